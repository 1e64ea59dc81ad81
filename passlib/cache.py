"""A content-addressed cache of LLM answers, shared safely between processes.

The key is the SHA-256 of (model identity, e.g. the bundle manifest's digest; the prompt; the
decoding options). An entry is one JSON file `<dir>/<key[:2]>/<key>.json` holding the answer and a
checksum over it: it is written to a temporary file in the same directory and renamed into place,
so concurrent writers and killed processes leave either a whole entry or none, and an entry whose
checksum or key does not match, or that is not an entry at all (bytes that are not JSON, JSON nested
too deeply, fields of the wrong type), is reported as corrupt and rebuilt, never trusted. In
cache-only mode a missing entry is an error (CacheMiss) instead of a call to the model.

Any Python text is stored and read back identical, lone surrogates included (an answer's JSON may
escape them): keys, checksums and entries are UTF-8 that lets surrogates through unescaped (escaped,
JSON would read a surrogate pair back as one character), which is plain UTF-8 for every text
without them, so earlier keys and entries still match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile
import time
from typing import Any

from passlib import backends, prompts

CACHE_FORMAT = 1
HIT = "hit"
MISS = "miss"
CORRUPT = "corrupt"
DISABLED = "disabled"
_STALE_TEMPORARY_SECONDS = 3600


class CacheMiss(backends.BackendError):
    """Cache-only mode and no usable entry for the prompt."""

    def __init__(self, message: str) -> None:
        super().__init__("cache_miss", message)


def _canonical(value: Any) -> bytes:
    """Compact, sorted JSON in UTF-8, surrogates passed through: what keys hash and entries hold."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", errors="surrogatepass")


def cache_key(model_identity: str, prompt: prompts.Prompt, options: backends.DecodingOptions) -> str:
    """The hex SHA-256 naming the answer to `prompt` from this model with these options."""
    return hashlib.sha256(
        _canonical(
            {
                "format": CACHE_FORMAT,
                "model": model_identity,
                "system": prompt.system,
                "user": prompt.user,
                "options": options.key(),
            }
        )
    ).hexdigest()


def _checksum(key: str, completion: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({"key": key, "completion": completion})).hexdigest()


def _is_count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _completion_fields_valid(fields: Any) -> bool:
    """Whether an entry's completion has exactly a Completion's fields, each of its type."""
    return (
        isinstance(fields, dict)
        and fields.keys() == {field.name for field in dataclasses.fields(backends.Completion)}
        and isinstance(fields["text"], str)
        and _is_count(fields["prompt_tokens"])
        and _is_count(fields["completion_tokens"])
        and isinstance(fields["latency_s"], (int, float)) and not isinstance(fields["latency_s"], bool)
        and (fields["finish_reason"] is None or isinstance(fields["finish_reason"], str))
    )


def _read_entry(raw: bytes, key: str) -> backends.Completion | None:
    """The completion an entry file holds, or None when it is not a whole, valid entry for `key`."""
    try:
        entry = json.loads(raw.decode("utf-8", errors="surrogatepass"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deeply, a number too long
        return None
    if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
        return None
    fields = entry.get("completion")
    if not _completion_fields_valid(fields) or entry.get("checksum") != _checksum(key, fields):
        return None
    return backends.Completion(**fields)


@dataclasses.dataclass
class CacheStats:
    """Counts of lookups and writes during one run."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0


class ResponseCache:
    """LLM answers on disk, keyed by `cache_key`."""

    def __init__(self, directory: pathlib.Path, cache_only: bool = False) -> None:
        self.directory = pathlib.Path(directory)
        self.cache_only = cache_only
        self.stats = CacheStats()
        if not cache_only:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._remove_stale_temporaries()

    def path(self, key: str) -> pathlib.Path:
        """Where the entry for `key` lives."""
        return self.directory / key[:2] / f"{key}.json"

    def _remove_stale_temporaries(self) -> None:
        """Deletes temporary files that writers killed long ago left behind."""
        cutoff = time.time() - _STALE_TEMPORARY_SECONDS
        for temporary in self.directory.glob("*/.*.tmp"):
            try:
                if temporary.stat().st_mtime < cutoff:
                    temporary.unlink()
            except FileNotFoundError:
                pass

    def lookup(self, key: str) -> tuple[backends.Completion | None, str]:
        """The cached answer and HIT, or None and MISS or CORRUPT."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            self.stats.misses += 1
            return None, MISS
        except OSError:  # not a file, or not readable: rebuilt like any other bad entry
            raw = b""
        result = _read_entry(raw, key)
        if result is None:
            self.stats.corrupt += 1
            return None, CORRUPT
        self.stats.hits += 1
        return result, HIT

    def store(self, key: str, completion: backends.Completion) -> None:
        """Writes the entry for `key` atomically (temporary file in the same directory, rename)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = dataclasses.asdict(completion)
        entry = {"format": CACHE_FORMAT, "key": key, "completion": fields,
                 "checksum": _checksum(key, fields)}
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(_canonical(entry))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            pathlib.Path(temporary).unlink(missing_ok=True)
            raise
        self.stats.writes += 1


def complete(
    backend: backends.Backend,
    cache: ResponseCache | None,
    prompt: prompts.Prompt,
    options: backends.DecodingOptions,
) -> tuple[backends.Completion, str]:
    """The answer to `prompt` through the cache, and the cache status (hit, miss, corrupt, disabled)."""
    if cache is None:
        return backend.complete(prompt, options), DISABLED
    key = cache_key(backend.identity(), prompt, options)
    cached, status = cache.lookup(key)
    if cached is not None:
        return cached, status
    if cache.cache_only:
        raise CacheMiss(
            f"cache-only mode and the entry {cache.path(key)} is "
            f"{'corrupt' if status == CORRUPT else 'missing'}; "
            "run once with the model available to fill the cache"
        )
    completion = backend.complete(prompt, options)
    cache.store(key, completion)
    return completion, status
