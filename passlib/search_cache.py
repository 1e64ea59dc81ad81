"""Results of the search on disk, keyed by (unit, allow-list, budget, cost, phase, compiler).

An entry holds the pipeline the search settled on (after the execution check) or none, and the digest
of the module that pipeline gave. A hit is replayed: the pipeline runs again (one pass-manager run per
pass, much cheaper than the search and the execution check) and must give a module of the same
digest; an entry that does not parse, names another key, or replays to another module is corrupt,
reported as such and rebuilt. Entries are written atomically (artifacts.atomic_write), so a killed
process leaves a whole entry or none. Layout: `<dir>/<key[:2]>/<key>.json`.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Iterable
from typing import Any

from artifacts import bundle
from artifacts.atomic_write import write_text_atomic

CACHE_FORMAT = 1
HIT = "hit"
MISS = "miss"
CORRUPT = "corrupt"


def search_key(unit_text: str, allowed: Iterable[str], budget: int, cost: str, phase: str) -> str:
    """The key of one unit's search: everything that can change its result."""
    material = {
        "format": CACHE_FORMAT,
        "unit": unit_text,
        "allowed": sorted(allowed),
        "budget": budget,
        "cost": cost,
        "phase": phase,
        "compiler": bundle.toolchain_versions(["iree-base-compiler"])["iree-base-compiler"],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class SearchCache:
    """Search results under one directory."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = pathlib.Path(directory)

    def path(self, key: str) -> pathlib.Path:
        return self.directory / key[:2] / f"{key}.json"

    def lookup(self, key: str) -> tuple[dict[str, Any] | None, str]:
        """The stored outcome and HIT, or None and MISS or CORRUPT (a malformed entry)."""
        try:
            raw = self.path(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, MISS
        except (OSError, UnicodeDecodeError):
            return None, CORRUPT
        try:
            entry = json.loads(raw)
            valid = (
                isinstance(entry, dict)
                and entry.get("format") == CACHE_FORMAT
                and entry.get("key") == key
                and (entry.get("pipeline") is None
                     or (isinstance(entry["pipeline"], list) and all(isinstance(p, str) for p in entry["pipeline"])))
                and isinstance(entry.get("output"), (str, type(None)))
            )
        except json.JSONDecodeError:
            valid = False
        return (entry, HIT) if valid else (None, CORRUPT)

    def store(self, key: str, pipeline: list[str] | None, output_digest: str | None, detail: str) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"format": CACHE_FORMAT, "key": key, "pipeline": pipeline, "output": output_digest,
                 "detail": detail}
        write_text_atomic(path, json.dumps(entry, sort_keys=True))
