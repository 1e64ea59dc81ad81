"""The `checkpoints` module extension against a real HTTP server on 127.0.0.1.

A workspace of the test's own uses rules_iree_llm through bzlmod and declares checkpoints served by
the test: downloaded files must match their pinned sha256, a wrong pin or an unreachable server must
fail with the message that says how to supply the weights, and a local directory must work offline.

The server also answers the Hub API's `/api/models/{repo}/revision/{revision}` with the commit of a
branch, for tags without pins: those download only with `allow_unpinned = True` or
`--repo_env=RULES_IREE_LLM_ALLOW_UNPINNED=1`, from the commit, and print the tag to paste.

Bazel downloads nothing without a sha256 over plain http (bazelbuild/bazel#8607, 127.0.0.1 included),
so the same files are served twice: over plain http for the pinned scenarios, and over https, with a
self-signed certificate for 127.0.0.1 made here by openssl, for the unpinned ones. The nested Bazel's
JVM trusts that certificate through a truststore made by keytool (its startup options). Without
openssl or keytool the https scenarios are skipped.
"""

import ast
import functools
import hashlib
import http.server
import json
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from artifacts import bundle
from tests.downstream_workspace import DownstreamWorkspace, downstream_workspace, source_root

FILES = {
    "config.json": b'{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}\n',
    "model.safetensors": bytes(range(256)) * 64,
    "tokenizer.json": b'{"version": "1.0"}\n',
}
REPO_ID = "test-org/tiny-model"
REVISION = "0123456789abcdef"
# The commit the branch "main" points at, and its files: other bytes than FILES, so that no scenario
# can take them from Bazel's repository cache of another's.
BRANCH = "main"
COMMIT = "89abcdef01" * 4
COMMIT_FILES = {name: contents + b"\n# at the commit\n" for name, contents in FILES.items()}
# The Hub API's answer for each revision the server knows (any other is a 404).
API_ANSWERS = {
    BRANCH: json.dumps({"id": REPO_ID, "sha": COMMIT}),
    "no-sha": json.dumps({"id": REPO_ID}),
    "short-sha": json.dumps({"id": REPO_ID, "sha": "abc123"}),
    "not-json": "<html>rate limited</html>",
}
# The password of the test's truststore (it holds public certificates only).
TRUSTSTORE_PASSWORD = "rules-iree-llm-test"
# The reason each malformed answer is refused with, after "is not available: ".
API_PROBLEMS = {
    "no-sha": 'has no commit: its "sha" is None (40 hex digits expected)',
    "short-sha": 'has no commit: its "sha" is "abc123" (40 hex digits expected)',
    "not-json": "is not a JSON object",
    "no-such-branch": "for the commit of revision no-such-branch failed",
}


def _sha256s(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(contents).hexdigest() for name, contents in files.items()}


class RecordingHandler(http.server.SimpleHTTPRequestHandler):
    requested: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        RecordingHandler.requested.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@dataclass(frozen=True)
class Tls:
    """The https server's certificate and the nested Bazel's startup options that trust it, or
    what is missing to make them."""

    context: ssl.SSLContext | None = None
    startup_options: tuple[str, ...] = ()
    missing: str = ""


def _keytool() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    candidates = [shutil.which("keytool")] + ([os.path.join(java_home, "bin", "keytool")] if java_home else [])
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)


def _check(completed: subprocess.CompletedProcess[str]) -> None:
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(completed.args)} failed ({completed.returncode}):\n{completed.stdout}")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate for 127.0.0.1 and a truststore with it, made by openssl and keytool."""
    tools = {"openssl": shutil.which("openssl"), "keytool (on PATH or in $JAVA_HOME/bin)": _keytool()}
    missing = [name for name, path in tools.items() if not path]
    if missing:
        return Tls(missing=f"no {' and '.join(missing)} to make a certificate the nested Bazel trusts")
    openssl, keytool = tools.values()
    assert openssl and keytool
    directory = tmp_path_factory.mktemp("tls")
    certificate, key, truststore = directory / "cert.pem", directory / "key.pem", directory / "truststore.p12"
    # The address the server listens on is the certificate's subjectAltName: Java checks a URL's IP
    # address against the IP addresses the certificate names.
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    _check(_run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", *subject,
                "-keyout", str(key), "-out", str(certificate)))  # fmt: skip
    store = ["-storetype", "PKCS12", "-storepass", TRUSTSTORE_PASSWORD]
    # The truststore replaces the JVM's own: it starts from the JDK's CAs, so that a nested Bazel
    # with network access still trusts real servers (best effort: the test needs only its own).
    cacerts = Path(os.path.realpath(keytool)).parents[1] / "lib" / "security" / "cacerts"
    if cacerts.is_file():
        source = ["-srckeystore", str(cacerts), "-srcstorepass", "changeit"]
        destination = ["-destkeystore", str(truststore), "-deststoretype", "PKCS12"]
        _run(keytool, "-importkeystore", "-noprompt", *source, *destination, "-deststorepass", TRUSTSTORE_PASSWORD)
    _check(_run(keytool, "-importcert", "-noprompt", "-trustcacerts", "-alias", "checkpoint-download-test",
                "-file", str(certificate), "-keystore", str(truststore), *store))  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return Tls(
        context=context,
        startup_options=(
            f"--host_jvm_args=-Djavax.net.ssl.trustStore={truststore}",
            f"--host_jvm_args=-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}",
            "--host_jvm_args=-Djavax.net.ssl.trustStoreType=PKCS12",
        ),
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory both servers serve: the files at REVISION and at COMMIT, and the API's answers."""
    root = tmp_path_factory.mktemp("served")
    directory = root / REPO_ID / "resolve" / REVISION
    directory.mkdir(parents=True)
    for name, contents in FILES.items():
        (directory / name).write_bytes(contents)
    at_commit = root / REPO_ID / "resolve" / COMMIT
    at_commit.mkdir(parents=True)
    for name, contents in COMMIT_FILES.items():
        (at_commit / name).write_bytes(contents)
    api = root / "api" / "models" / REPO_ID / "revision"
    api.mkdir(parents=True)
    for revision, answer in API_ANSWERS.items():
        (api / revision).write_text(answer)
    return root


def _serve(root: Path, context: ssl.SSLContext | None) -> Iterator[str]:
    """Serves `root` on 127.0.0.1 (over https with `context`), yielding the endpoint's URL."""
    handler = functools.partial(RecordingHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"{'https' if context else 'http'}://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def http_server(served: Path) -> Iterator[str]:
    """The plain http endpoint: enough for pinned files."""
    yield from _serve(served, None)


@pytest.fixture(scope="module")
def https_server(served: Path, tls: Tls) -> Iterator[str]:
    """The https endpoint the nested Bazel trusts: needed for files without a sha256."""
    if tls.context is None:
        pytest.skip(f"https scenarios skipped: {tls.missing}")
    yield from _serve(served, tls.context)


def _huggingface_tag(
    name: str, hashes: dict[str, str], revision: str = REVISION, allow_unpinned: bool = False
) -> str:
    files = ", ".join(f'"{file}": "{digest}"' for file, digest in sorted(hashes.items()))
    return (
        f'checkpoints.huggingface(name = "{name}", repo_id = "{REPO_ID}", revision = "{revision}", '
        f'files = {{{files}}}, local_dir_variable = "TINY_MODEL_DIR"'
        + (", allow_unpinned = True" if allow_unpinned else "")
        + ")\n"
    )


# A rule of the test workspace that writes the pins `:checkpoint` carries (or "none").
PINS_OF_BZL = """\
load("@rules_iree_llm//export:defs.bzl", "CheckpointPinsInfo")

def _pins_of_impl(ctx):
    output = ctx.actions.declare_file(ctx.label.name + ".json")
    pins = [target[CheckpointPinsInfo].json for target in ctx.attr.checkpoint if CheckpointPinsInfo in target]
    ctx.actions.write(output, pins[0] if pins else "none")
    return [DefaultInfo(files = depset([output]))]

pins_of = rule(implementation = _pins_of_impl, attrs = {"checkpoint": attr.label_list(allow_files = True)})
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[DownstreamWorkspace]:
    root = source_root(os.environ["MODULE_FILE"])
    directory = tmp_path_factory.mktemp("checkpoint_workspace")
    good = _sha256s(FILES)
    bad = dict(good, **{"model.safetensors": "0" * 64})
    # Pins of files never downloaded: Bazel's repository cache (keyed by sha256) cannot answer them.
    never_served = {name: hashlib.sha256(b"never served " + name.encode()).hexdigest() for name in FILES}
    unpinned = {name: "" for name in FILES}
    # Pinned at the commit: config.json rightly, model.safetensors wrongly; tokenizer.json not at all.
    partly_pinned = {
        "config.json": _sha256s(COMMIT_FILES)["config.json"],
        "model.safetensors": "1" * 64,
        "tokenizer.json": "",
    }
    # One repository per scenario, so that no scenario reuses another's fetched files.
    repositories = {"served": good, "bad_pin": bad, "unreachable": never_served, "local": good}
    unpinned_repositories = {
        "unpinned_allowed": (unpinned, BRANCH, True),
        "unpinned_refused": (unpinned, BRANCH, False),
        "unpinned_by_env": (unpinned, BRANCH, False),
        "wrong_pin_unpinned": (partly_pinned, BRANCH, True),
        "unpinned_over_http": (unpinned, BRANCH, True),
    }
    for revision in API_PROBLEMS:
        unpinned_repositories["api_" + revision.replace("-", "_")] = (unpinned, revision, True)
    names = list(repositories) + list(unpinned_repositories)
    (directory / "MODULE.bazel").write_text(
        'module(name = "checkpoint_download_test")\n'
        'bazel_dep(name = "rules_iree_llm", version = "0.1.0")\n'
        f'local_path_override(module_name = "rules_iree_llm", path = "{root}")\n'
        'checkpoints = use_extension("@rules_iree_llm//export:extensions.bzl", "checkpoints")\n'
        + "".join(_huggingface_tag(name, hashes) for name, hashes in repositories.items())
        + "".join(
            _huggingface_tag(name, hashes, revision, allow_unpinned)
            for name, (hashes, revision, allow_unpinned) in unpinned_repositories.items()
        )
        + "use_repo(checkpoints, " + ", ".join(f'"{name}"' for name in names) + ")\n"
    )
    (directory / "pins_of.bzl").write_text(PINS_OF_BZL)
    (directory / "BUILD.bazel").write_text(
        'load(":pins_of.bzl", "pins_of")\n'
        + "".join(
            f'genrule(name = "digests_{name}", srcs = ["@{name}//:checkpoint"], '
            f'outs = ["digests_{name}.txt"], cmd = "sha256sum $(SRCS) > $@")\n'
            f'pins_of(name = "pins_of_{name}", checkpoint = ["@{name}//:checkpoint"])\n'
            f'genrule(name = "pins_file_{name}", srcs = ["@{name}//:pins"], '
            f'outs = ["pins_file_{name}.txt"], cmd = "cat /dev/null $(SRCS) > $@")\n'
            for name in ("served", "local", "unpinned_allowed", "unpinned_by_env")
        )
    )
    (directory / ".bazelrc").write_text(
        "common --lockfile_mode=off\nbuild --nosandbox_debug\n"
        f"try-import {root}/.bazelrc.local\n"
    )
    # The same startup options for every command: the nested server trusts the https server's
    # certificate from its start (other options would restart it).
    with downstream_workspace(
        os.environ["MODULE_FILE"],
        os.environ["PIP_RUNFILE"].split()[0],
        workspace=str(directory),
        startup_options=list(tls.startup_options),
    ) as client:
        yield client


def _digests(workspace: DownstreamWorkspace, name: str) -> dict[str, str]:
    lines = Path(workspace.output_path(f"digests_{name}.txt")).read_text().splitlines()
    return {Path(path).name: digest for digest, path in (line.split() for line in lines)}


def _pins(workspace: DownstreamWorkspace, name: str) -> str:
    """The pins `@name//:checkpoint` carries to llm_artifacts ("none" for none)."""
    return Path(workspace.output_path(f"pins_of_{name}.json")).read_text()


def _pins_file(workspace: DownstreamWorkspace, name: str) -> str:
    """The repository's checkpoint_pins.json (`@name//:pins`), "" for none."""
    return Path(workspace.output_path(f"pins_file_{name}.txt")).read_text()


def test_download_checks_pinned_sha256(workspace: DownstreamWorkspace, http_server: str) -> None:
    RecordingHandler.requested.clear()
    result = workspace.bazel(
        "build",
        f"--repo_env=HF_ENDPOINT={http_server}",
        "//:digests_served",
        "//:pins_of_served",
        "//:pins_file_served",
    )
    assert result.returncode == 0, result.output
    assert _digests(workspace, "served") == _sha256s(FILES)
    assert sorted(RecordingHandler.requested) == sorted(
        f"/{REPO_ID}/resolve/{REVISION}/{name}" for name in FILES
    )
    # A fully pinned download records its pins too (pinned: true), for the bundle's manifest.
    pins = json.loads(_pins(workspace, "served"))
    assert pins == {
        "files": _sha256s(FILES),
        "pinned": True,
        "repo_id": REPO_ID,
        "requested_revision": REVISION,
        "revision": REVISION,
    }
    assert _pins_file(workspace, "served") == _pins(workspace, "served")
    assert bundle.CheckpointPins.from_pins_file(_pins(workspace, "served")) == bundle.CheckpointPins(
        repo_id=REPO_ID, revision=REVISION, files=_sha256s(FILES), pinned=True
    )
    assert "downloaded unpinned" not in result.output, result.output


def test_wrong_pin_fails_with_how_to_supply_the_weights(workspace: DownstreamWorkspace, http_server: str) -> None:
    result = workspace.bazel("build", f"--repo_env=HF_ENDPOINT={http_server}", "@bad_pin//:checkpoint")
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
        "//:pins_of_local",
        "//:pins_file_local",
    )
    assert result.returncode == 0, result.output
    assert _digests(workspace, "local") == _sha256s(local_files)
    # A local copy is used as it is: no pins.
    assert _pins(workspace, "local") == "none"
    assert _pins_file(workspace, "local") == ""


def _printed_tag(output: str) -> dict[str, object]:
    """The arguments of the checkpoints.huggingface(...) call the repository rule printed."""
    lines = output.splitlines()
    start = lines.index("checkpoints.huggingface(")
    end = lines.index(")", start)
    (statement,) = ast.parse("\n".join(lines[start : end + 1])).body
    assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
    assert not statement.value.args
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in statement.value.keywords}


def test_unpinned_download_from_the_commit_prints_the_pins(workspace: DownstreamWorkspace, https_server: str) -> None:
    RecordingHandler.requested.clear()
    result = workspace.bazel(
        "build",
        f"--repo_env=HF_ENDPOINT={https_server}",
        "//:digests_unpinned_allowed",
        "//:pins_of_unpinned_allowed",
        "//:pins_file_unpinned_allowed",
    )
    assert result.returncode == 0, result.output
    assert _digests(workspace, "unpinned_allowed") == _sha256s(COMMIT_FILES)
    assert sorted(RecordingHandler.requested) == sorted(
        [f"/api/models/{REPO_ID}/revision/{BRANCH}"] + [f"/{REPO_ID}/resolve/{COMMIT}/{name}" for name in FILES]
    )
    # The tag to paste into MODULE.bazel, with the commit and the real sha256 of each file.
    assert f"revision {BRANCH} is commit {COMMIT}" in result.output, result.output
    assert _printed_tag(result.output) == {
        "name": "unpinned_allowed",
        "files": _sha256s(COMMIT_FILES),
        "local_dir_variable": "TINY_MODEL_DIR",
        "repo_id": REPO_ID,
        "revision": COMMIT,
    }
    pins = json.loads(_pins(workspace, "unpinned_allowed"))
    assert pins == {
        "files": _sha256s(COMMIT_FILES),
        "pinned": False,
        "repo_id": REPO_ID,
        "requested_revision": BRANCH,
        "revision": COMMIT,
    }
    assert _pins_file(workspace, "unpinned_allowed") == _pins(workspace, "unpinned_allowed")
    # What the bundle's manifest records (artifacts/bundle.py reads the same text).
    assert bundle.CheckpointPins.from_pins_file(_pins(workspace, "unpinned_allowed")) == bundle.CheckpointPins(
        repo_id=REPO_ID, revision=COMMIT, files=_sha256s(COMMIT_FILES), pinned=False
    )


def test_unpinned_tag_is_not_downloaded_unless_allowed(workspace: DownstreamWorkspace, http_server: str) -> None:
    RecordingHandler.requested.clear()
    result = workspace.bazel("build", f"--repo_env=HF_ENDPOINT={http_server}", "@unpinned_refused//:checkpoint")
    assert result.returncode != 0
    assert (
        f"The checkpoint {REPO_ID} (revision {BRANCH}) is not available: no sha256 is pinned for "
        "config.json, model.safetensors, tokenizer.json, so it is not downloaded"
    ) in result.output, result.output
    assert "allow_unpinned = True" in result.output, result.output
    assert "--repo_env=RULES_IREE_LLM_ALLOW_UNPINNED=1" in result.output, result.output
    assert "--repo_env=TINY_MODEL_DIR=/path/to/tiny-model" in result.output, result.output
    assert RecordingHandler.requested == []


def test_unpinned_download_allowed_by_the_environment(workspace: DownstreamWorkspace, https_server: str) -> None:
    RecordingHandler.requested.clear()
    result = workspace.bazel(
        "build",
        f"--repo_env=HF_ENDPOINT={https_server}",
        "--repo_env=RULES_IREE_LLM_ALLOW_UNPINNED=1",
        "//:digests_unpinned_by_env",
        "//:pins_of_unpinned_by_env",
    )
    assert result.returncode == 0, result.output
    assert _digests(workspace, "unpinned_by_env") == _sha256s(COMMIT_FILES)
    assert f"/api/models/{REPO_ID}/revision/{BRANCH}" in RecordingHandler.requested
    assert _printed_tag(result.output)["revision"] == COMMIT
    assert _printed_tag(result.output)["files"] == _sha256s(COMMIT_FILES)
    assert json.loads(_pins(workspace, "unpinned_by_env"))["revision"] == COMMIT


def test_wrong_pin_fails_even_when_unpinned_files_are_allowed(
    workspace: DownstreamWorkspace, https_server: str
) -> None:
    result = workspace.bazel("build", f"--repo_env=HF_ENDPOINT={https_server}", "@wrong_pin_unpinned//:checkpoint")
    assert result.returncode != 0
    assert (
        f"The checkpoint {REPO_ID} (revision {BRANCH}) is not available: downloading "
        f"{https_server}/{REPO_ID}/resolve/{COMMIT}/model.safetensors failed"
    ) in result.output, result.output
    assert "sha256 differs from the pinned one" in result.output, result.output
    assert "checkpoints.huggingface(" not in result.output, result.output


@pytest.mark.parametrize("revision", sorted(API_PROBLEMS))
def test_malformed_hub_answer_is_unavailable_with_the_reason(
    workspace: DownstreamWorkspace, https_server: str, revision: str
) -> None:
    name = "api_" + revision.replace("-", "_")
    result = workspace.bazel("build", f"--repo_env=HF_ENDPOINT={https_server}", f"@{name}//:checkpoint")
    assert result.returncode != 0
    url = f"{https_server}/api/models/{REPO_ID}/revision/{revision}"
    assert f"The checkpoint {REPO_ID} (revision {revision}) is not available: " in result.output, result.output
    assert url in result.output, result.output
    assert API_PROBLEMS[revision] in result.output, result.output
    assert "--repo_env=TINY_MODEL_DIR=/path/to/tiny-model" in result.output, result.output


def test_unpinned_download_over_plain_http_is_unavailable_with_the_reason(
    workspace: DownstreamWorkspace, http_server: str
) -> None:
    RecordingHandler.requested.clear()
    result = workspace.bazel("build", f"--repo_env=HF_ENDPOINT={http_server}", "@unpinned_over_http//:checkpoint")
    assert result.returncode != 0
    assert (
        f"The checkpoint {REPO_ID} (revision {BRANCH}) is not available: the endpoint {http_server} is plain "
        "http, and Bazel downloads files without a sha256 only over https (no sha256 is pinned for "
        "config.json, model.safetensors, tokenizer.json): use an https endpoint "
        "(--repo_env=HF_ENDPOINT=https://...) or pin the sha256 of every file in the tag"
    ) in result.output, result.output
    assert "--repo_env=TINY_MODEL_DIR=/path/to/tiny-model" in result.output, result.output
    assert "checkpoints.huggingface(" not in result.output, result.output
    # Refused before asking anything: Bazel would refuse each download anyway.
    assert RecordingHandler.requested == []
