"""Bundle manifest: write/verify round trip, every kind of corruption detected, deterministic bytes."""

import dataclasses
import importlib.metadata
import json
import re
import shutil
from pathlib import Path

import pytest

from artifacts import bundle

SOURCE = bundle.SourceCheckpoint(name="tiny.gguf", sha256="ab" * 32)


def make_bundle(directory: Path) -> Path:
    """A bundle directory with the runtime's file names and small, distinct contents."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / bundle.MODEL_VMFB).write_bytes(bytes(range(256)) * 40)
    (directory / bundle.MODEL_IRPA).write_bytes(b"\x00\x01weights" * 1000)
    (directory / bundle.MODEL_CONFIG).write_text('{"paged_kv_cache": {"block_seq_stride": 32}}\n')
    (directory / bundle.TOKENIZER_JSON).write_text('{"model": {"type": "BPE"}}\n')
    (directory / bundle.GENERATION_JSON).write_text('{"eos_token_id": 2}\n')
    return directory


def write(directory: Path, **overrides) -> bundle.BundleManifest:
    arguments = dict(
        bundle_name="tiny_cpu",
        target="llvm-cpu",
        driver="local-task",
        source=SOURCE,
        build_label="//artifacts:tiny_cpu",
    )
    arguments.update(overrides)
    return bundle.write_manifest(directory, **arguments)


def test_round_trip_records_every_file(tmp_path):
    directory = make_bundle(tmp_path / "b")
    written = write(directory)
    verified = bundle.verify_bundle(directory, required_files=bundle.RUNTIME_FILES)
    assert verified == written
    assert sorted(verified.files) == sorted(bundle.RUNTIME_FILES)
    for name, entry in verified.files.items():
        assert entry.size == (directory / name).stat().st_size
        assert entry.sha256 == bundle.file_sha256(directory / name)
    assert verified.target == "llvm-cpu" and verified.driver == "local-task"
    assert verified.source == SOURCE
    assert verified.toolchain["iree-base-runtime"] == importlib.metadata.version("iree-base-runtime")
    assert verified.toolchain["torch"] == importlib.metadata.version("torch")


def _iree_compile() -> Path:
    import iree.compiler

    return Path(iree.compiler.__file__).parent / "_mlir_libs" / "iree-compile"


def test_compiler_version_is_read_from_the_compiler_that_ran():
    version = bundle.compiler_version(_iree_compile())
    assert re.fullmatch(r"\d+\.\d+\.\S+ @ [0-9a-f]{40}", version), version
    assert version.startswith(importlib.metadata.version("iree-base-compiler"))


@pytest.mark.parametrize("program", ["/bin/false", "/bin/true", "/nonexistent/iree-compile"])
def test_compiler_version_of_something_else_is_a_bundle_error(program):
    with pytest.raises(bundle.BundleError, match="iree-compile|version"):
        bundle.compiler_version(Path(program))


def test_manifest_is_byte_identical_across_writes_and_directories(tmp_path):
    first = make_bundle(tmp_path / "first")
    second = make_bundle(tmp_path / "elsewhere" / "second")
    write(first)
    text = (first / bundle.MANIFEST_NAME).read_bytes()
    write(first)  # rewriting over an existing manifest does not hash the manifest itself
    assert (first / bundle.MANIFEST_NAME).read_bytes() == text
    write(second)
    assert (second / bundle.MANIFEST_NAME).read_bytes() == text
    assert str(tmp_path).encode() not in text
    document = json.loads(text)
    assert list(document) == sorted(document)
    assert not [path for path in first.iterdir() if path.name.startswith(".")], "temporary files left behind"


def test_manifest_changes_when_a_file_changes(tmp_path):
    directory = make_bundle(tmp_path / "b")
    first = write(directory)
    (directory / bundle.GENERATION_JSON).write_text('{"eos_token_id": 3}\n')
    second = write(directory)
    assert first.files[bundle.GENERATION_JSON] != second.files[bundle.GENERATION_JSON]
    assert first.files[bundle.MODEL_VMFB] == second.files[bundle.MODEL_VMFB]


def test_flipped_byte_is_detected(tmp_path):
    directory = make_bundle(tmp_path / "b")
    write(directory)
    path = directory / bundle.MODEL_IRPA
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(bundle.BundleError) as error:
        bundle.verify_bundle(directory)
    message = str(error.value)
    assert "model.irpa" in message and "sha256" in message
    assert "bazel build //artifacts:tiny_cpu" in message


def test_truncated_file_is_detected(tmp_path):
    directory = make_bundle(tmp_path / "b")
    write(directory)
    path = directory / bundle.MODEL_VMFB
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(bundle.BundleError, match=r"model\.vmfb.*bytes.*bazel build //artifacts:tiny_cpu"):
        bundle.verify_bundle(directory)


def test_missing_file_is_detected(tmp_path):
    directory = make_bundle(tmp_path / "b")
    write(directory)
    (directory / bundle.TOKENIZER_JSON).unlink()
    with pytest.raises(bundle.BundleError, match=r"tokenizer\.json: bundle file is missing.*bazel build"):
        bundle.verify_bundle(directory)


def test_file_the_runtime_needs_but_the_manifest_lacks_is_detected(tmp_path):
    directory = make_bundle(tmp_path / "b")
    write(directory, files={name: directory / name for name in bundle.RUNTIME_FILES if name != bundle.MODEL_VMFB})
    bundle.verify_bundle(directory)  # consistent on its own
    with pytest.raises(bundle.BundleError, match=r"has no model\.vmfb"):
        bundle.verify_bundle(directory, required_files=bundle.RUNTIME_FILES)


def test_missing_manifest_is_detected(tmp_path):
    directory = make_bundle(tmp_path / "b")
    with pytest.raises(bundle.BundleError, match=r"manifest\.json: bundle has no manifest"):
        bundle.verify_bundle(directory)


def test_missing_directory_is_detected(tmp_path):
    with pytest.raises(bundle.BundleError, match="bundle directory does not exist"):
        bundle.verify_bundle(tmp_path / "nothing")


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (lambda text: "[]", '"format"'),
        (lambda text: text.replace('"format_version": 1', '"format_version": 99'), "format version 99"),
        (lambda text: text.replace('"sha256": "ab', '"sh": "ab'), "missing or malformed field"),
        (lambda text: text.replace('"model.vmfb"', '"../model.vmfb"'), "not a valid bundle file name"),
        (lambda text: text.replace('"size": ', '"size": "many", "x": '), "missing or malformed field"),
    ],
)
def test_corrupt_manifest_is_detected(tmp_path, mutate, expected):
    directory = make_bundle(tmp_path / "b")
    write(directory)
    manifest_path = directory / bundle.MANIFEST_NAME
    manifest_path.write_text(mutate(manifest_path.read_text()))
    with pytest.raises(bundle.BundleError) as error:
        bundle.verify_bundle(directory)
    assert expected in str(error.value)
    assert "manifest.json" in str(error.value) and "bazel build" in str(error.value)


def test_bad_file_names_are_refused_when_writing(tmp_path):
    directory = make_bundle(tmp_path / "b")
    with pytest.raises(ValueError, match="not a valid bundle file name"):
        write(directory, files={"sub/model.vmfb": directory / bundle.MODEL_VMFB})
    with pytest.raises(bundle.BundleError, match="does not exist"):
        write(directory, files={"model.vmfb": directory / "absent.vmfb"})


def test_checkpoint_sha256_of_a_directory_depends_on_names_and_contents(tmp_path):
    checkpoint = tmp_path / "hf"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    (checkpoint / "model.safetensors").write_bytes(b"weights")
    first = bundle.checkpoint_sha256(checkpoint)
    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    assert bundle.checkpoint_sha256(copy) == first
    (copy / "model.safetensors").write_bytes(b"weightz")
    assert bundle.checkpoint_sha256(copy) != first
    assert bundle.checkpoint_sha256(checkpoint / "config.json") == bundle.file_sha256(checkpoint / "config.json")


def test_cli_write_with_explicit_files_then_verify(tmp_path, capsys):
    inputs = make_bundle(tmp_path / "inputs")
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    for name in bundle.RUNTIME_FILES:
        shutil.copy(inputs / name, output_dir / name)
    source = tmp_path / "tiny.gguf"
    source.write_bytes(b"GGUF checkpoint")
    arguments = [
        "write",
        "--output",
        str(output_dir / bundle.MANIFEST_NAME),
        "--bundle-name",
        "tiny_cpu",
        "--target",
        "llvm-cpu",
        "--driver",
        "local-task",
        "--source-file",
        str(source),
    ]
    for name in bundle.RUNTIME_FILES:
        arguments += ["--file", f"{name}={inputs / name}"]
    assert bundle.main(arguments) == 0
    manifest = bundle.read_manifest(output_dir)
    assert manifest.source == bundle.SourceCheckpoint("tiny.gguf", bundle.file_sha256(source))
    assert manifest.build_label is None
    assert str(tmp_path) not in (output_dir / bundle.MANIFEST_NAME).read_text()

    assert bundle.main(["verify", str(output_dir)]) == 0
    assert "OK" in capsys.readouterr().out
    (output_dir / bundle.GENERATION_JSON).write_text("{}")
    assert bundle.main(["verify", str(output_dir)]) == 1
    assert "generation.json" in capsys.readouterr().err


def test_cli_write_bundle_dir_matches_the_library(tmp_path):
    first = make_bundle(tmp_path / "first")
    second = make_bundle(tmp_path / "second")
    write(first, build_label=None)
    status = bundle.main(
        [
            "write",
            "--bundle-dir",
            str(second),
            "--bundle-name",
            "tiny_cpu",
            "--target",
            "llvm-cpu",
            "--driver",
            "local-task",
            "--source-name",
            SOURCE.name,
            "--source-sha256",
            SOURCE.sha256,
        ]
    )
    assert status == 0
    assert (second / bundle.MANIFEST_NAME).read_bytes() == (first / bundle.MANIFEST_NAME).read_bytes()


# --- source_checkpoint.pins: the commit and file sha256 a downloaded checkpoint came from ---------

PINS = bundle.CheckpointPins(
    repo_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
    revision="0123456789abcdef0123456789abcdef01234567",
    files={"config.json": "cd" * 32, "model.safetensors": "ef" * 32},
    pinned=False,
)
# checkpoint_pins.json as private/huggingface_checkpoint.bzl writes it.
PINS_FILE_TEXT = json.dumps(
    {
        "files": {"config.json": "cd" * 32, "model.safetensors": "ef" * 32},
        "pinned": False,
        "repo_id": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "requested_revision": "main",
        "revision": "0123456789abcdef0123456789abcdef01234567",
    },
    indent=2,
)


def test_pins_round_trip_through_the_manifest(tmp_path):
    directory = make_bundle(tmp_path / "b")
    source = bundle.SourceCheckpoint(name="qwen", sha256="ab" * 32, pins=PINS)
    written = write(directory, source=source)
    verified = bundle.verify_bundle(directory, required_files=bundle.RUNTIME_FILES)
    assert verified == written
    assert verified.source == source and verified.source.pins == PINS
    document = json.loads((directory / bundle.MANIFEST_NAME).read_text())
    assert document["source_checkpoint"] == {
        "name": "qwen",
        "sha256": "ab" * 32,
        "pins": {
            "repo_id": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
            "revision": "0123456789abcdef0123456789abcdef01234567",
            "files": {"config.json": {"sha256": "cd" * 32}, "model.safetensors": {"sha256": "ef" * 32}},
            "pinned": False,
        },
    }
    # Deterministic like the rest of the manifest.
    text = (directory / bundle.MANIFEST_NAME).read_bytes()
    write(directory, source=source)
    assert (directory / bundle.MANIFEST_NAME).read_bytes() == text


def test_manifest_without_pins_is_unchanged_and_still_read(tmp_path):
    """Older bundles (and bundles of local copies or GGUF files) have no pins: the same bytes as before
    pins existed, read back with pins None."""
    directory = make_bundle(tmp_path / "b")
    write(directory)
    document = json.loads((directory / bundle.MANIFEST_NAME).read_text())
    assert document["source_checkpoint"] == {"name": SOURCE.name, "sha256": SOURCE.sha256}
    assert bundle.verify_bundle(directory).source.pins is None


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda pins: pins.update(files={"config.json": {"sha256": "not hex"}}), "64 hex digits"),
        (lambda pins: pins.update(files=[]), "pins.files is not an object"),
        (lambda pins: pins.update(files={"config.json": "cd" * 32}), "is not an object"),
        (lambda pins: pins.pop("revision"), "'revision'"),
        (lambda pins: pins.update(pinned="yes"), "'pinned'"),
    ],
)
def test_corrupt_pins_are_detected(tmp_path, mutate, expected):
    directory = make_bundle(tmp_path / "b")
    write(directory, source=bundle.SourceCheckpoint(name="qwen", sha256="ab" * 32, pins=PINS))
    manifest_path = directory / bundle.MANIFEST_NAME
    document = json.loads(manifest_path.read_text())
    mutate(document["source_checkpoint"]["pins"])
    manifest_path.write_text(json.dumps(document))
    with pytest.raises(bundle.BundleError, match="corrupt bundle manifest") as error:
        bundle.verify_bundle(directory)
    assert expected in str(error.value)


def test_cli_records_the_checkpoint_repository_pins(tmp_path):
    directory = make_bundle(tmp_path / "b")
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    arguments = [
        "write",
        "--bundle-dir",
        str(directory),
        "--bundle-name",
        "qwen_cpu",
        "--target",
        "llvm-cpu",
        "--driver",
        "local-task",
        "--source-file",
        str(checkpoint),
    ]
    assert bundle.main(arguments + ["--source-pins", PINS_FILE_TEXT]) == 0
    manifest = bundle.verify_bundle(directory)
    assert manifest.source.pins == PINS
    assert manifest.source.sha256 == bundle.checkpoint_sha256(checkpoint)
    assert "requested_revision" not in (directory / bundle.MANIFEST_NAME).read_text()

    # The pins do not change the digest of the checkpoint, and a pinned download says so.
    pinned = json.loads(PINS_FILE_TEXT)
    pinned.update(pinned=True, requested_revision=pinned["revision"])
    assert bundle.main(arguments + ["--source-pins", json.dumps(pinned)]) == 0
    assert bundle.read_manifest(directory).source == bundle.SourceCheckpoint(
        name="checkpoint", sha256=manifest.source.sha256, pins=dataclasses.replace(PINS, pinned=True)
    )


@pytest.mark.parametrize(
    "pins_text, expected",
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"repo_id": "a/b", "revision": "c", "files": {}}', "no files"),
        ('{"repo_id": "a/b", "revision": "c", "files": {"config.json": ""}}', "64 hex digits"),
        ('{"repo_id": "", "revision": "c", "files": {"config.json": "' + "cd" * 32 + '"}}', "'repo_id'"),
    ],
)
def test_cli_refuses_malformed_pins(tmp_path, capsys, pins_text, expected):
    directory = make_bundle(tmp_path / "b")
    arguments = [
        "write",
        "--bundle-dir",
        str(directory),
        "--bundle-name",
        "qwen_cpu",
        "--target",
        "llvm-cpu",
        "--driver",
        "local-task",
        "--source-name",
        "qwen",
        "--source-sha256",
        "ab" * 32,
        "--source-pins",
        pins_text,
    ]
    with pytest.raises(SystemExit) as exit_:
        bundle.main(arguments)
    assert exit_.value.code == 2
    assert expected in capsys.readouterr().err
    assert not (directory / bundle.MANIFEST_NAME).exists()
