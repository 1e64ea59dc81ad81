"""The bundle format: a directory of model files plus manifest.json, written and verified by sha256.

A bundle is one directory per model and target:

    model.vmfb          the model compiled by iree-compile for one target
    model.irpa          the weights (parameter scope "model")
    model_config.json   the config sharktank's export writes (KV-cache layout, batch sizes, ...)
    tokenizer.json      the tokenizer in Hugging Face `tokenizers` format
    generation.json     bos/eos/stop token ids, chat template, context length
    manifest.json       written last: this module's format (sha256 and size of every other file, the
                        IREE target and runtime driver, the source checkpoint, toolchain versions)

The source checkpoint is its name and digest, and for a checkpoint that Bazel downloaded from Hugging
Face (private/huggingface_checkpoint.bzl) also its pins: `source_checkpoint.pins` = {"repo_id",
"revision" (the commit), "files": {name: {"sha256"}}, "pinned"} ("pinned" is false when the download
was allowed unpinned). Manifests without pins (older bundles, local copies, GGUF files) stay valid.

The manifest is deterministic (sorted keys, no timestamps, no absolute paths), so two builds of the
same inputs give byte-identical manifests. `verify_bundle` re-hashes every file and names the file
and the fix on any mismatch.

Command line (what the Bazel action runs):

    python -m artifacts.bundle write --output DIR/manifest.json --file model.vmfb=PATH ... \
        --bundle-name NAME --target llvm-cpu --driver local-task --source-file CHECKPOINT \
        [--source-pins "$(cat checkpoint_pins.json)"]
    python -m artifacts.bundle write --bundle-dir DIR ...      (hashes every file already in DIR)
    python -m artifacts.bundle verify DIR
"""

import argparse
import dataclasses
import hashlib
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from artifacts.atomic_write import write_text_atomic

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "rules_iree_llm.bundle"
FORMAT_VERSION = 1

MODEL_VMFB = "model.vmfb"
MODEL_IRPA = "model.irpa"
MODEL_CONFIG = "model_config.json"
TOKENIZER_JSON = "tokenizer.json"
# The tensorized tokenizer (tokenizer_model): its module, compiled for the host CPU, and its tables.
TOKENIZER_VMFB = "tokenizer.vmfb"
TOKENIZER_IRPA = "tokenizer.irpa"
GENERATION_JSON = "generation.json"
# The files the runtime needs; a bundle may hold more (e.g. tokenizer.vmfb).
RUNTIME_FILES = (MODEL_VMFB, MODEL_IRPA, MODEL_CONFIG, TOKENIZER_JSON, GENERATION_JSON)

# Packages whose versions decide the bytes of a bundle; recorded in every manifest.
TOOLCHAIN_PACKAGES = (
    "iree-base-compiler",
    "iree-base-runtime",
    "iree-turbine",
    "sharktank",
    "tokenizers",
    "torch",
    "transformers",
)

_HASH_CHUNK_BYTES = 1 << 20


class BundleError(Exception):
    """A bundle is missing, incomplete or corrupt. The message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class BundleFile:
    """One file of a bundle as the manifest records it."""

    sha256: str
    size: int


@dataclasses.dataclass(frozen=True)
class CheckpointPins:
    """Where a downloaded checkpoint came from: the Hugging Face repository, the commit, and the sha256
    of each file (checked against pins in MODULE.bazel, or taken as downloaded when `pinned` is False)."""

    repo_id: str
    revision: str
    files: Mapping[str, str]
    pinned: bool = True

    def to_document(self) -> dict:
        """The manifest's `source_checkpoint.pins` object."""
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "files": {name: {"sha256": digest} for name, digest in sorted(self.files.items())},
            "pinned": self.pinned,
        }

    @staticmethod
    def from_document(document: object) -> "CheckpointPins":
        """Parses the manifest's `source_checkpoint.pins` object; ValueError when it is malformed."""
        if not isinstance(document, dict):
            raise ValueError("source_checkpoint.pins is not an object")
        files = document.get("files")
        if not isinstance(files, dict):
            raise ValueError("source_checkpoint.pins.files is not an object")
        digests = {}
        for name, entry in files.items():
            if not isinstance(entry, dict):
                raise ValueError(f"source_checkpoint.pins.files[{name!r}] is not an object")
            digests[name] = entry.get("sha256")
        return CheckpointPins._checked(document, digests, "source_checkpoint.pins")

    @staticmethod
    def from_pins_file(text: str) -> "CheckpointPins":
        """Parses a checkpoint repository's checkpoint_pins.json ({"repo_id", "revision",
        "requested_revision", "files": {name: sha256}, "pinned"}); ValueError when it is malformed."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"checkpoint pins are not valid JSON: {error}") from error
        if not isinstance(document, dict):
            raise ValueError("checkpoint pins are not a JSON object")
        files = document.get("files")
        if not isinstance(files, dict):
            raise ValueError('checkpoint pins have no "files" object')
        return CheckpointPins._checked(document, dict(files), "checkpoint pins")

    @staticmethod
    def _checked(document: dict, digests: dict, what: str) -> "CheckpointPins":
        for field in ("repo_id", "revision"):
            if not isinstance(document.get(field), str) or not document[field]:
                raise ValueError(f"{what}: {field!r} is not a non-empty string")
        pinned = document.get("pinned", True)
        if not isinstance(pinned, bool):
            raise ValueError(f"{what}: 'pinned' is not true or false")
        if not digests:
            raise ValueError(f"{what}: no files")
        for name, digest in digests.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"{what}: a file name is empty")
            if not isinstance(digest, str) or not _is_sha256(digest.lower()):
                raise ValueError(f"{what}: the sha256 of {name!r} is not 64 hex digits")
        return CheckpointPins(
            repo_id=document["repo_id"],
            revision=document["revision"],
            files={name: digests[name].lower() for name in sorted(digests)},
            pinned=pinned,
        )


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(character in "0123456789abcdef" for character in text)


@dataclasses.dataclass(frozen=True)
class SourceCheckpoint:
    """The checkpoint a bundle was built from (file name only, never a path), with the pins it was
    downloaded by when there are any."""

    name: str
    sha256: str
    pins: Optional[CheckpointPins] = None

    def to_document(self) -> dict:
        """The manifest's `source_checkpoint` object (without "pins" when there are none, so that the
        manifest of a bundle without pins has the same bytes as before pins existed)."""
        document: dict = {"name": self.name, "sha256": self.sha256}
        if self.pins is not None:
            document["pins"] = self.pins.to_document()
        return document


@dataclasses.dataclass(frozen=True)
class BundleManifest:
    """The parsed manifest.json of a bundle."""

    bundle_name: str
    target: str
    driver: str
    files: Mapping[str, BundleFile]
    source: SourceCheckpoint
    toolchain: Mapping[str, Optional[str]]
    build_label: Optional[str] = None
    format_version: int = FORMAT_VERSION

    def rebuild_hint(self) -> str:
        """The command that rebuilds this bundle, for error messages."""
        return rebuild_hint(self.build_label)

    def to_json(self) -> str:
        """The manifest as deterministic JSON text (sorted keys, trailing newline)."""
        document = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "bundle_name": self.bundle_name,
            "build_label": self.build_label,
            "target": {"name": self.target, "driver": self.driver},
            "files": {
                name: {"sha256": entry.sha256, "size": entry.size} for name, entry in self.files.items()
            },
            "source_checkpoint": self.source.to_document(),
            "toolchain": dict(self.toolchain),
        }
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @staticmethod
    def from_json(text: str, manifest_path: Path) -> "BundleManifest":
        """Parses manifest text; raises BundleError naming `manifest_path` when it is malformed."""

        def corrupt(problem: str) -> BundleError:
            return BundleError(f"{manifest_path}: corrupt bundle manifest ({problem}). Fix: {rebuild_hint(None)}.")

        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise corrupt(f"not valid JSON: {error}") from error
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise corrupt(f'"format" is not "{FORMAT_NAME}"')
        if document.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"{manifest_path}: bundle format version {document.get('format_version')!r} is not the "
                f"version this runtime reads ({FORMAT_VERSION}). Fix: {rebuild_hint(document.get('build_label'))}."
            )
        try:
            files = {
                name: BundleFile(sha256=str(entry["sha256"]), size=int(entry["size"]))
                for name, entry in document["files"].items()
            }
            for name in files:
                _check_file_name(name)
            manifest = BundleManifest(
                bundle_name=str(document["bundle_name"]),
                build_label=document.get("build_label"),
                target=str(document["target"]["name"]),
                driver=str(document["target"]["driver"]),
                files=files,
                source=SourceCheckpoint(
                    name=str(document["source_checkpoint"]["name"]),
                    sha256=str(document["source_checkpoint"]["sha256"]),
                    pins=(
                        CheckpointPins.from_document(document["source_checkpoint"]["pins"])
                        if "pins" in document["source_checkpoint"]
                        else None
                    ),
                ),
                toolchain=dict(document["toolchain"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise corrupt(f"missing or malformed field: {error!r}") from error
        return manifest


def rebuild_hint(build_label: Optional[str]) -> str:
    """How to rebuild a bundle: `bazel build LABEL` when the label is known."""
    if build_label:
        return f"rebuild the bundle with `bazel build {build_label}`"
    return "rebuild the bundle with `bazel build` on the llm_artifacts target that produced it"


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_sha256(path: Path) -> str:
    """The sha256 of a checkpoint: of the file, or for a directory (a Hugging Face checkpoint) of the
    sorted lines "relative/path sha256" of every file under it."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    if not path.is_dir():
        raise BundleError(f"{path}: source checkpoint does not exist.")
    lines = [
        f"{file.relative_to(path).as_posix()} {file_sha256(file)}\n"
        for file in sorted(path.rglob("*"))
        if file.is_file()
    ]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def toolchain_versions(packages: Iterable[str] = TOOLCHAIN_PACKAGES) -> dict[str, Optional[str]]:
    """The installed version of each package (None when it is not installed)."""
    versions: dict[str, Optional[str]] = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


COMPILER_KEY = "iree-compile"
_COMPILER_VERSION = re.compile(r"IREE compiler version (\S+(?: @ [0-9a-f]+)?)")


def compiler_version(compiler: Path, timeout_s: float = 120.0) -> str:
    """`iree-compile --version`'s version and commit ("3.8.0rc20251010 @ afe01bd..."): the compiler
    that the build's toolchain ran, which may not be the pip package this interpreter sees."""
    try:
        completed = subprocess.run([str(compiler), "--version"], capture_output=True, text=True,
                                   timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BundleError(f"{compiler}: cannot run it to read its version ({error})") from None
    output = completed.stdout + completed.stderr
    found = _COMPILER_VERSION.search(output)
    if completed.returncode != 0 or found is None:
        raise BundleError(f"{compiler} --version exited {completed.returncode} without an IREE compiler "
                          f"version: {output.strip()[:300]!r}")
    return found.group(1)


def _check_file_name(name: str) -> None:
    """Bundle file names are plain names inside the bundle directory: no paths, no '..'."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or name == MANIFEST_NAME:
        raise ValueError(f"{name!r} is not a valid bundle file name (a plain file name other than {MANIFEST_NAME})")


def write_manifest(
    bundle_dir: Path,
    *,
    bundle_name: str,
    target: str,
    driver: str,
    source: SourceCheckpoint,
    files: Optional[Mapping[str, Path]] = None,
    toolchain: Optional[Mapping[str, Optional[str]]] = None,
    build_label: Optional[str] = None,
    output: Optional[Path] = None,
) -> BundleManifest:
    """Hashes the bundle's files and writes manifest.json atomically.

    Args:
      bundle_dir: the bundle directory; manifest.json is written there unless `output` is given.
      bundle_name: the bundle's name (e.g. "smollm2_cpu").
      target: the IREE target the VMFB was compiled for (e.g. "llvm-cpu").
      driver: the IREE runtime driver that runs it (e.g. "local-task").
      source: the checkpoint the bundle was built from.
      files: bundle file name -> the path to hash; default: every regular file in `bundle_dir` except
        the manifest itself.
      toolchain: package -> version; default: `toolchain_versions()` of this interpreter.
      build_label: the Bazel label that builds the bundle, used in error messages.
      output: where to write the manifest (default `bundle_dir/manifest.json`).
    Returns:
      The manifest written.
    """
    bundle_dir = Path(bundle_dir)
    if files is None:
        files = {
            path.name: path
            for path in sorted(bundle_dir.iterdir())
            if path.is_file() and path.name != MANIFEST_NAME and not path.name.startswith(".")
        }
    entries: dict[str, BundleFile] = {}
    for name, path in sorted(files.items()):
        _check_file_name(name)
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"{path}: bundle file {name!r} does not exist; cannot write the manifest.")
        entries[name] = BundleFile(sha256=file_sha256(path), size=path.stat().st_size)
    if not entries:
        raise BundleError(f"{bundle_dir}: no files to put in the bundle manifest.")
    manifest = BundleManifest(
        bundle_name=bundle_name,
        build_label=build_label,
        target=target,
        driver=driver,
        files=entries,
        source=source,
        toolchain=dict(toolchain if toolchain is not None else toolchain_versions()),
    )
    write_text_atomic(Path(output) if output is not None else bundle_dir / MANIFEST_NAME, manifest.to_json())
    return manifest


def read_manifest(bundle_dir: Path) -> BundleManifest:
    """Reads and parses `bundle_dir/manifest.json` without hashing the files."""
    manifest_path = Path(bundle_dir) / MANIFEST_NAME
    if not Path(bundle_dir).is_dir():
        raise BundleError(f"{bundle_dir}: bundle directory does not exist. Fix: {rebuild_hint(None)}.")
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise BundleError(
            f"{manifest_path}: bundle has no manifest (the build did not finish). Fix: {rebuild_hint(None)}."
        ) from error
    except UnicodeDecodeError as error:
        raise BundleError(
            f"{manifest_path}: corrupt bundle manifest (not UTF-8). Fix: {rebuild_hint(None)}."
        ) from error
    return BundleManifest.from_json(text, manifest_path)


def verify_bundle(bundle_dir: Path, required_files: Sequence[str] = ()) -> BundleManifest:
    """Checks every file the manifest lists against its size and sha256.

    Args:
      bundle_dir: the bundle directory.
      required_files: names that must be listed in the manifest (e.g. RUNTIME_FILES).
    Returns:
      The verified manifest.
    Raises:
      BundleError: naming the file and the fix, on a missing, truncated, altered or unlisted file or a
        corrupt manifest.
    """
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    hint = manifest.rebuild_hint()
    for name in required_files:
        if name not in manifest.files:
            raise BundleError(
                f"{bundle_dir / MANIFEST_NAME}: bundle {manifest.bundle_name!r} has no {name}, "
                f"which the runtime needs. Fix: {hint}."
            )
    for name, expected in sorted(manifest.files.items()):
        path = bundle_dir / name
        if not path.is_file():
            raise BundleError(f"{path}: bundle file is missing. Fix: {hint}.")
        size = path.stat().st_size
        if size != expected.size:
            raise BundleError(
                f"{path}: bundle file has {size} bytes, the manifest says {expected.size} "
                f"(truncated or replaced). Fix: {hint}."
            )
        digest = file_sha256(path)
        if digest != expected.sha256:
            raise BundleError(
                f"{path}: bundle file sha256 is {digest}, the manifest says {expected.sha256} "
                f"(the file was altered). Fix: {hint}."
            )
    return manifest


def _parse_name_equals_path(value: str) -> tuple[str, Path]:
    name, separator, path = value.partition("=")
    if not separator or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {value!r}")
    return name, Path(path)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m artifacts.bundle", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    write = commands.add_parser("write", help="hash the bundle files and write manifest.json")
    write.add_argument("--bundle-dir", type=Path, help="the bundle directory (default: the --output's directory)")
    write.add_argument("--output", type=Path, help="manifest path (default: BUNDLE_DIR/manifest.json)")
    write.add_argument(
        "--file",
        dest="files",
        action="append",
        type=_parse_name_equals_path,
        default=[],
        metavar="NAME=PATH",
        help="a bundle file and where to read it; repeatable (default: every file in --bundle-dir)",
    )
    write.add_argument("--bundle-name", required=True)
    write.add_argument("--target", required=True, help='IREE target, e.g. "llvm-cpu"')
    write.add_argument("--driver", required=True, help='IREE runtime driver, e.g. "local-task"')
    write.add_argument("--build-label", help="the Bazel label that builds this bundle (for error messages)")
    write.add_argument("--compiler", type=Path,
                       help="the toolchain's iree-compile that compiled the bundle: its --version is recorded "
                       f"as toolchain[{COMPILER_KEY!r}]")
    source = write.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--source-file",
        type=Path,
        help="the source checkpoint file or directory (hashed; its base name is kept)",
    )
    source.add_argument("--source-name", help="source checkpoint name, with --source-sha256")
    write.add_argument("--source-sha256", help="the source checkpoint's sha256, with --source-name")
    write.add_argument(
        "--source-pins",
        metavar="JSON",
        help="the text of the checkpoint repository's checkpoint_pins.json (repo id, commit, sha256 of "
        "each file), recorded as source_checkpoint.pins",
    )

    verify = commands.add_parser("verify", help="check every bundle file against the manifest")
    verify.add_argument("bundle_dir", type=Path)
    return parser


def main(argv: Sequence[str]) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            manifest = verify_bundle(args.bundle_dir)
            print(f"{args.bundle_dir}: bundle {manifest.bundle_name!r} OK ({len(manifest.files)} files)")
            return 0
        if args.bundle_dir is None and args.output is None:
            parser.error("write needs --bundle-dir or --output")
        if args.files and len({name for name, _ in args.files}) != len(args.files):
            parser.error("a --file NAME is given twice")
        pins = None
        if args.source_pins is not None:
            try:
                pins = CheckpointPins.from_pins_file(args.source_pins)
            except ValueError as error:
                parser.error(f"--source-pins: {error}")
        if args.source_file is not None:
            source = SourceCheckpoint(
                name=args.source_file.name, sha256=checkpoint_sha256(args.source_file), pins=pins
            )
        elif args.source_sha256:
            source = SourceCheckpoint(name=args.source_name, sha256=args.source_sha256, pins=pins)
        else:
            parser.error("--source-name needs --source-sha256")
        bundle_dir = args.bundle_dir if args.bundle_dir is not None else args.output.parent
        toolchain = toolchain_versions()
        if args.compiler is not None:
            toolchain[COMPILER_KEY] = compiler_version(args.compiler)
        write_manifest(
            bundle_dir,
            bundle_name=args.bundle_name,
            target=args.target,
            driver=args.driver,
            source=source,
            files=dict(args.files) if args.files else None,
            build_label=args.build_label,
            output=args.output,
            toolchain=toolchain,
        )
        return 0
    except (BundleError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
