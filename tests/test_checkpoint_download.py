"""The `checkpoints` module extension against a real HTTP server on 127.0.0.1.

A workspace of the test's own uses rules_iree_llm through bzlmod and declares checkpoints served by
the test: downloaded files must match their pinned sha256, a wrong pin or an unreachable server must
fail with the message that says how to supply the weights, and a local directory must work offline.
"""

import functools
import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.downstream_workspace import DownstreamWorkspace, downstream_workspace, source_root

FILES = {
    "config.json": b'{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}\n',
    "model.safetensors": bytes(range(256)) * 64,
    "tokenizer.json": b'{"version": "1.0"}\n',
}
REPO_ID = "test-org/tiny-model"
REVISION = "0123456789abcdef"


class RecordingHandler(http.server.SimpleHTTPRequestHandler):
    requested: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        RecordingHandler.requested.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("served")
    directory = root / REPO_ID / "resolve" / REVISION
    directory.mkdir(parents=True)
    for name, contents in FILES.items():
        (directory / name).write_bytes(contents)
    handler = functools.partial(RecordingHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _huggingface_tag(name: str, hashes: dict[str, str]) -> str:
    files = ", ".join(f'"{file}": "{digest}"' for file, digest in sorted(hashes.items()))
    return (
        f'checkpoints.huggingface(name = "{name}", repo_id = "{REPO_ID}", revision = "{REVISION}", '
        f'files = {{{files}}}, local_dir_variable = "TINY_MODEL_DIR")\n'
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DownstreamWorkspace]:
    root = source_root(os.environ["MODULE_FILE"])
    directory = tmp_path_factory.mktemp("checkpoint_workspace")
    good = {name: hashlib.sha256(contents).hexdigest() for name, contents in FILES.items()}
    bad = dict(good, **{"model.safetensors": "0" * 64})
    # Pins of files never downloaded: Bazel's repository cache (keyed by sha256) cannot answer them.
    never_served = {name: hashlib.sha256(b"never served " + name.encode()).hexdigest() for name in FILES}
    # One repository per scenario, so that no scenario reuses another's fetched files.
    repositories = {"served": good, "bad_pin": bad, "unreachable": never_served, "local": good}
    (directory / "MODULE.bazel").write_text(
        'module(name = "checkpoint_download_test")\n'
        'bazel_dep(name = "rules_iree_llm", version = "0.1.0")\n'
        f'local_path_override(module_name = "rules_iree_llm", path = "{root}")\n'
        'checkpoints = use_extension("@rules_iree_llm//export:extensions.bzl", "checkpoints")\n'
        + "".join(_huggingface_tag(name, hashes) for name, hashes in repositories.items())
        + "use_repo(checkpoints, " + ", ".join(f'"{name}"' for name in repositories) + ")\n"
    )
    (directory / "BUILD.bazel").write_text(
        "".join(
            f'genrule(name = "digests_{name}", srcs = ["@{name}//:checkpoint"], '
            f'outs = ["digests_{name}.txt"], cmd = "sha256sum $(SRCS) > $@")\n'
            for name in ("served", "local")
        )
    )
    (directory / ".bazelrc").write_text(
        "common --lockfile_mode=off\nbuild --nosandbox_debug\n"
        f"try-import {root}/.bazelrc.local\n"
    )
    with downstream_workspace(
        os.environ["MODULE_FILE"], os.environ["PIP_RUNFILE"].split()[0], workspace=str(directory)
    ) as client:
        yield client


def _digests(workspace: DownstreamWorkspace, name: str) -> dict[str, str]:
    lines = Path(workspace.output_path(f"digests_{name}.txt")).read_text().splitlines()
    return {Path(path).name: digest for digest, path in (line.split() for line in lines)}


def test_download_checks_pinned_sha256(workspace: DownstreamWorkspace, server: str) -> None:
    RecordingHandler.requested.clear()
    result = workspace.bazel("build", f"--repo_env=HF_ENDPOINT={server}", "//:digests_served")
    assert result.returncode == 0, result.output
    assert _digests(workspace, "served") == {n: hashlib.sha256(c).hexdigest() for n, c in FILES.items()}
    assert sorted(RecordingHandler.requested) == sorted(
        f"/{REPO_ID}/resolve/{REVISION}/{name}" for name in FILES
    )


def test_wrong_pin_fails_with_how_to_supply_the_weights(workspace: DownstreamWorkspace, server: str) -> None:
    result = workspace.bazel("build", f"--repo_env=HF_ENDPOINT={server}", "@bad_pin//:checkpoint")
    assert result.returncode != 0
    assert f"The checkpoint {REPO_ID} (revision {REVISION}) is not available" in result.output, result.output
    assert "--repo_env=TINY_MODEL_DIR=/path/to/tiny-model" in result.output, result.output


def test_unreachable_server_fails_with_how_to_supply_the_weights(workspace: DownstreamWorkspace) -> None:
    result = workspace.bazel("build", "--repo_env=HF_ENDPOINT=http://127.0.0.1:9", "@unreachable//:checkpoint")
    assert result.returncode != 0
    assert "downloading http://127.0.0.1:9/" in result.output, result.output
    assert "--repo_env=TINY_MODEL_DIR=" in result.output, result.output


def test_local_directory_works_without_a_server(
    workspace: DownstreamWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    local = tmp_path_factory.mktemp("local_copy")
    # Contents other than the pinned ones: a local copy is used as it is (the user vouches for it),
    # and these digests cannot come from Bazel's repository cache of the served files.
    local_files = {name: contents + b"\n# local copy\n" for name, contents in FILES.items()}
    for name, contents in local_files.items():
        (local / name).write_bytes(contents)
    result = workspace.bazel(
        "build",
        "--repo_env=HF_ENDPOINT=http://127.0.0.1:9",
        f"--repo_env=TINY_MODEL_DIR={local}",
        "//:digests_local",
    )
    assert result.returncode == 0, result.output
    assert _digests(workspace, "local") == {
        name: hashlib.sha256(contents).hexdigest() for name, contents in local_files.items()
    }
