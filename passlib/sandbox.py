"""Child processes for untrusted MLIR: resource limits, a scrubbed environment, a named outcome.

Everything passlib runs on text it did not write (LLM answers, and inputs made by other rules) that
could crash, hang or exhaust memory runs here in a child process: the MLIR parser on an answer
(`parse_check`), `iree-opt`, `iree-compile` and the IREE runtime. Each child gets

- an address-space cap (`RLIMIT_AS`), a CPU-time cap (`RLIMIT_CPU`) and no core dumps;
- a smaller stack than this process (`RLIMIT_STACK`): the MLIR parser recurses on nested types and
  regions, so a text that parses in a child with a quarter of our stack cannot overflow ours;
- an environment without credentials: variables named like keys, tokens, secrets or passwords and
  proxy settings that carry a user name are removed;
- a wall-clock limit: the child is killed when it runs out.

A child that dies by a signal, runs out of time or hits a limit is reported as a `Crash` with the
reason in words; the caller turns it into a rejection, never into a failed build.
"""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

from iree.compiler.tools import binaries

MIB = 1 << 20
# Measured: iree-compile of a small function for llvm-cpu runs under 1 GiB of address space, iree-opt
# parses in 0.2 GiB; the cap leaves room for large modules and stops a runaway child well before it
# can take the machine's memory.
DEFAULT_MEMORY_BYTES = 4096 * MIB
DEFAULT_CPU_SECONDS = 300
# The parser's recursion depth is bounded by the stack; see the module docstring.
_CHILD_STACK_FRACTION = 4
_FALLBACK_STACK_BYTES = 8 * MIB
PARSE_CHECK_TIMEOUT_S = 60.0

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
_PROXY_NAME = re.compile(r"^(all|http|https|ftp|no)_proxy$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a child process may use."""

    memory_bytes: int = DEFAULT_MEMORY_BYTES
    cpu_seconds: int = DEFAULT_CPU_SECONDS
    timeout_s: float = 120.0


@dataclasses.dataclass(frozen=True)
class Crash:
    """A child that did not exit on its own: a signal, a limit or the wall clock (`timed_out`)."""

    reason: str
    timed_out: bool = False


def is_credential(name: str, value: str) -> bool:
    """Whether an environment variable holds a credential (a key, token, secret, password, or a
    proxy URL with a user name)."""
    return bool(_SECRET_NAME.search(name)) or (bool(_PROXY_NAME.match(name)) and "@" in value)


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) without credentials, with this process's import
    path as PYTHONPATH (Bazel sets sys.path, and children that import passlib need it)."""
    environment = {name: value for name, value in (os.environ if base is None else base).items()
                   if not is_credential(name, value)}
    environment["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    return environment


def child_stack_bytes() -> int:
    """A quarter of this process's stack limit (of 8 MiB when unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    ours = _FALLBACK_STACK_BYTES if soft == resource.RLIM_INFINITY else soft
    return max(ours // _CHILD_STACK_FRACTION, 256 * 1024)


def _limit(limits: Limits, stack_bytes: int):
    def apply() -> None:  # runs in the child between fork and exec: setrlimit only
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_STACK, (stack_bytes, stack_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def describe_exit(returncode: int) -> str:
    """A child's exit status in words ("killed by SIGSEGV", "exit status 1")."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if -returncode == signal.SIGXCPU:
            return f"killed by {name} (its CPU-time limit)"
        return f"killed by {name}"
    return f"exit status {returncode}"


def run(command: Sequence[str], *, limits: Limits = Limits(), input: bytes | None = None,
        environment: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes] | Crash:
    """Runs `command` in a limited child; its CompletedProcess (stdout and stderr as bytes) when it
    exited, else the Crash. A child that hits the memory cap fails an allocation: it aborts (a Crash)
    or exits non-zero, which callers check as usual."""
    try:
        completed = subprocess.run(list(command), input=input, capture_output=True, check=False,
                                   timeout=limits.timeout_s, env=child_environment(environment),
                                   preexec_fn=_limit(limits, child_stack_bytes()))
    except subprocess.TimeoutExpired:
        return Crash(f"ran longer than {limits.timeout_s:g} s", timed_out=True)
    if completed.returncode < 0:
        return Crash(describe_exit(completed.returncode))
    return completed


def parse_check(text: str, timeout_s: float = PARSE_CHECK_TIMEOUT_S) -> Crash | None:
    """None when the MLIR parser, verifier and printer finish on `text` in a limited child (whether
    or not the text is valid MLIR); the Crash when the child died, so that the caller does not parse
    the text in its own process. The child is `iree-opt` from the same IREE as the Python bindings, so
    it runs the same parser; with a smaller stack than ours, a text it survives cannot overflow ours."""
    outcome = run([binaries.find_tool("iree-opt"), "-o", os.devnull, "-"],
                  limits=Limits(timeout_s=timeout_s), input=text.encode("utf-8", "surrogatepass"))
    return outcome if isinstance(outcome, Crash) else None
