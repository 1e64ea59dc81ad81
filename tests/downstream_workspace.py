"""Runs Bazel on the downstream example workspace (tests/downstream), as a user of the module would.

The nested Bazel gets an output root of its own in /tmp and is shut down afterwards. The Python
wheels that the outer build already fetched are handed to it with --override_repository, so it needs
no network (the same effect as a user's warm repository cache).
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PIP_REPOSITORY_PREFIX = "rules_python~~pip~rules_iree_llm_pypi_"


@dataclass(frozen=True)
class BazelResult:
    returncode: int
    output: str


def source_root(marker_runfile: str) -> str:
    """The source tree of this module, found through the symlink of a runfile (e.g. MODULE.bazel)."""
    return os.path.dirname(os.path.realpath(marker_runfile))


def pip_repository_overrides(pip_runfile: str) -> list[str]:
    """--override_repository flags for each pip repository the outer build has fetched completely."""
    path = os.path.realpath(pip_runfile)
    marker = os.sep + "external" + os.sep
    if marker not in path:
        raise RuntimeError(f"{pip_runfile} does not resolve into an external repository: {path}")
    external = path[: path.index(marker) + len(marker)]
    flags = []
    for name in sorted(os.listdir(external)):
        fetched = os.path.exists(os.path.join(external, "@" + name + ".marker"))
        if name.startswith(PIP_REPOSITORY_PREFIX) and fetched:
            flags.append(f"--override_repository={name}={os.path.join(external, name)}")
    return flags


@dataclass
class DownstreamWorkspace:
    """A Bazel client for tests/downstream with its own output root.

    `startup_options` (e.g. --host_jvm_args=...) go before the command of every call, shutdown
    included: the server is started once, and other startup options would restart it.
    """

    workspace: str
    output_user_root: str
    overrides: list[str]
    startup_options: list[str] = field(default_factory=list)

    def bazel(self, *args: str, timeout: float = 900) -> BazelResult:
        bazel = os.environ.get("BAZEL") or shutil.which("bazel") or "/usr/bin/bazel"
        command = [
            bazel,
            f"--output_user_root={self.output_user_root}",
            "--max_idle_secs=60",
            *self.startup_options,
            args[0],
            "--symlink_prefix=/",
            *self.overrides,
            *args[1:],
        ]
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.output_user_root,
            "TMPDIR": "/tmp",
        }
        completed = subprocess.run(
            command,
            cwd=self.workspace,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return BazelResult(completed.returncode, completed.stdout)

    def output_path(self, relative: str) -> str:
        result = self.bazel("info", "bazel-bin")
        if result.returncode != 0:
            raise RuntimeError(result.output)
        return os.path.join(result.output.strip().splitlines()[-1], relative)


@contextmanager
def downstream_workspace(
    marker_runfile: str,
    pip_runfile: str,
    workspace: str | None = None,
    startup_options: list[str] | None = None,
) -> Iterator[DownstreamWorkspace]:
    """Yields a Bazel client for `workspace` (default: tests/downstream), whose server runs with
    `startup_options`; shuts its server down and removes its output afterwards."""
    root = source_root(marker_runfile)
    # A short path: Bazel's server socket lives under the output root.
    output_user_root = tempfile.mkdtemp(prefix="rules_iree_llm_ds_", dir="/tmp")
    client = DownstreamWorkspace(
        workspace=workspace or os.path.join(root, "tests", "downstream"),
        output_user_root=output_user_root,
        overrides=pip_repository_overrides(pip_runfile),
        startup_options=list(startup_options or []),
    )
    try:
        yield client
    finally:
        bazel = os.environ.get("BAZEL") or shutil.which("bazel") or "/usr/bin/bazel"
        subprocess.run(
            # The server's own startup options: others would start a new server just to stop it.
            [bazel, f"--output_user_root={output_user_root}", *client.startup_options, "shutdown"],
            cwd=client.workspace,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        shutil.rmtree(output_user_root, ignore_errors=True)
