"""Builds //artifacts:smollm2_cpu against a real BuildGrid on 127.0.0.1 and checks issue #5's claims.

Starts PostgreSQL, BuildGrid (CAS, action cache, execution, bots services) and two buildbox bots
(buildgrid_stack.py), then, each Bazel client in a new output base (a clean client):

  local    `bazel build` without remote: the cold local time, then the same build again (warm
           local time), and the bundle's sha256 sums as the reference.
  remote   `--config=remote`: the export and compile actions must run on the bots (Bazel's
           execution log says runner "remote") and the bundle must be byte-identical to local.
  cached   a second clean client: every action must come from the remote cache (0 executed).
  killbot  a third clean client with --noremote_accept_cached (so the actions execute again):
           while the export runs on a bot, that bot (worker, runner, action, casd) is SIGKILLed;
           the build must still complete, byte-identical.

Prints Bazel's process summary lines, the checks and the times, and stops everything on exit
(also on Ctrl-C). Needs root installs first: tests/remote_execution/setup.sh. Not part of
`bazel test //...` (it runs the full export three to four times: ~30-60 minutes on 2 cores).

Usage: python3 tests/remote_execution/run_buildgrid.py [--phases local,remote,cached,killbot]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from buildgrid_stack import Bot, BuildGridStack  # noqa: E402  (a script next to its helper)

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
TARGET = "//artifacts:smollm2_cpu"
BUNDLE_DIR = "artifacts/smollm2_cpu"
# The actions that must run on the executors (mnemonics of llm_artifacts' actions).
REMOTE_MNEMONICS = (
    "LlmExport", "IreeCompile", "IrpaShareStorage", "TokenizerTables", "LlmGenerationConfig", "LlmBundleManifest",
)
PHASES = ("local", "remote", "cached", "killbot")


@dataclasses.dataclass
class BuildResult:
    """One `bazel build`: wall time, Bazel's process summary, the spawns of the execution log."""

    seconds: float
    summary: str
    spawns: list[dict[str, Any]]
    bundle: dict[str, str]

    def runners(self, mnemonics: tuple[str, ...] = REMOTE_MNEMONICS) -> dict[str, list[str]]:
        """mnemonic -> the runner of each of its spawns ('remote', 'linux-sandbox', 'remote cache hit', ...)."""
        result: dict[str, list[str]] = {}
        for spawn in self.spawns:
            if spawn.get("mnemonic") in mnemonics:
                result.setdefault(spawn["mnemonic"], []).append(spawn.get("runner", "?"))
        return result


class Client:
    """A Bazel client in its own output base (a clean client when the directory is new)."""

    def __init__(self, name: str, output_base: pathlib.Path, flags: list[str], log_dir: pathlib.Path) -> None:
        self.name = name
        self.output_base = output_base
        self.flags = flags
        self.log_dir = log_dir

    def _bazel(self, *args: str) -> list[str]:
        return ["bazel", f"--output_base={self.output_base}", *args]

    def fetch(self) -> float:
        """Fetches the external repositories (the pip hub) so that build times are build times only."""
        start = time.monotonic()
        self._run(self._bazel("fetch", *self.flags, TARGET), f"{self.name}-fetch.log")
        return time.monotonic() - start

    def build(self, label: str, extra: list[str] | None = None,
              background: threading.Event | None = None) -> BuildResult:
        """`bazel build` with an execution log; returns its time, summary line, spawns and bundle sums."""
        exec_log = self.log_dir / f"{self.name}-{label}-exec.json"
        log_name = f"{self.name}-{label}.log"
        start = time.monotonic()
        output = self._run(
            self._bazel("build", *self.flags, *(extra or []), f"--execution_log_json_file={exec_log}", TARGET),
            log_name,
            started=background,
        )
        seconds = time.monotonic() - start
        summaries = re.findall(r"INFO: \d+ process(?:es)?[:.][^\r\n]*", output)
        return BuildResult(
            seconds=seconds,
            summary=summaries[-1] if summaries else "(no process summary)",
            spawns=read_execution_log(exec_log),
            bundle=self.bundle_sums(),
        )

    def bundle_sums(self) -> dict[str, str]:
        """sha256 of every file of the bundle directory under this client's bazel-bin."""
        bazel_bin = subprocess.run(
            self._bazel("info", *self.flags, "bazel-bin"), cwd=REPOSITORY, check=True,
            capture_output=True, text=True,
        ).stdout.strip()
        bundle = pathlib.Path(bazel_bin) / BUNDLE_DIR
        return {path.name: sha256(path) for path in sorted(bundle.iterdir()) if path.is_file()}

    def _run(self, argv: list[str], log_name: str, started: threading.Event | None = None) -> str:
        log_path = self.log_dir / log_name
        print(f"[{self.name}] {' '.join(argv)}  (log: {log_path})", flush=True)
        with open(log_path, "w") as log:
            process = subprocess.Popen(argv, cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT, text=True)
            if started is not None:
                started.set()
            returncode = process.wait()
        output = log_path.read_text(errors="replace")
        if returncode != 0:
            tail = "\n".join(output.splitlines()[-30:])
            raise RuntimeError(f"[{self.name}] {' '.join(argv)} failed ({returncode}); last lines:\n{tail}")
        return output

    def shutdown(self, remove: bool) -> None:
        """Stops this client's Bazel server (frees its memory) and removes the output base when asked."""
        subprocess.run(self._bazel("shutdown"), cwd=REPOSITORY, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if remove and self.output_base.exists():
            # Bazel makes parts of the output base read-only.
            subprocess.run(["chmod", "-R", "u+w", str(self.output_base)], check=False)
            shutil.rmtree(self.output_base, ignore_errors=True)


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_execution_log(path: pathlib.Path) -> list[dict[str, Any]]:
    """The spawns of Bazel's --execution_log_json_file (one JSON object after another)."""
    text = path.read_text() if path.exists() else ""
    decoder = json.JSONDecoder()
    spawns, index = [], 0
    while index < len(text):
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            break
        spawn, index = decoder.raw_decode(text, index)
        spawns.append(spawn)
    return spawns


def summary_counts(summary: str) -> dict[str, int]:
    """'INFO: 9 processes: 4 internal, 5 remote cache hit.' -> {'internal': 4, 'remote cache hit': 5}."""
    _, _, categories = summary.partition("processes:")
    counts = {}
    for part in categories.strip().rstrip(".").split(","):
        number, _, kind = part.strip().partition(" ")
        if number.isdigit():
            counts[kind] = int(number)
    return counts


class Checks:
    """Collects pass/fail lines; the script's exit status is 1 when any failed."""

    def __init__(self) -> None:
        self.failed = 0

    def check(self, ok: bool, what: str) -> None:
        print(f"  {'PASS' if ok else 'FAIL'}: {what}", flush=True)
        if not ok:
            self.failed += 1


def same_bundle(checks: Checks, reference: dict[str, str] | None, bundle: dict[str, str], what: str) -> None:
    if reference is None:
        print(f"  (no local reference this run: {what} not compared)")
        return
    differing = sorted(name for name in reference.keys() | bundle.keys() if reference.get(name) != bundle.get(name))
    checks.check(not differing, f"{what}: bundle byte-identical to the local build "
                 f"({len(bundle)} files{'; differ: ' + ', '.join(differing) if differing else ''})")


def kill_bot_during_export(stack: BuildGridStack, build_started: threading.Event, done: threading.Event,
                           report: dict[str, str]) -> None:
    """Waits until a bot runs the export, lets it run 20 s, then SIGKILLs that bot."""
    build_started.wait()
    victim: Bot | None = None
    while not done.is_set() and victim is None:
        for bot in stack.alive_bots():
            if bot.running("export_llm"):
                victim = bot
                break
        time.sleep(0.5)
    if victim is None:
        report["killed"] = "none (the export never ran on a bot)"
        return
    time.sleep(20)
    if done.is_set():
        report["killed"] = "none (the build ended first)"
        return
    victim.kill()
    report["victim_id"] = victim.bot_id
    report["killed"] = f"{victim.name} at {time.strftime('%H:%M:%S')}, 20 s into the export"
    print(f"  killed {victim.name} (worker, runner, action and casd) while it ran the export", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument("--bgd", default=os.environ.get("BGD", os.path.expanduser("~/.cache/rules_iree_llm/buildgrid-venv/bin/bgd")),
                        help="the bgd of BuildGrid's virtual environment (setup.sh makes it)")
    parser.add_argument("--bots", type=int, default=2)
    parser.add_argument("--work-dir", type=pathlib.Path, default=None,
                        help="where the server, the bots and the clients' output bases live (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and the output bases")
    parser.add_argument("--serve", action="store_true",
                        help="only start BuildGrid and the bots, print the endpoint, run until Ctrl-C")
    args = parser.parse_args()
    phases = [phase for phase in args.phases.split(",") if phase]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases {unknown}; known: {', '.join(PHASES)}")

    work_dir = args.work_dir or pathlib.Path(tempfile.mkdtemp(prefix="rules_iree_llm_rx_"))
    work_dir.mkdir(parents=True, exist_ok=True)
    log_dir = work_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    stack = BuildGridStack(work_dir / "buildgrid", bgd=args.bgd, bot_count=args.bots)
    clients: list[Client] = []

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT too: a script started in the background of a non-interactive shell ignores it by default.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    checks = Checks()
    times: dict[str, float] = {}
    summaries: list[str] = []
    try:
        print(f"work directory: {work_dir}", flush=True)
        stack.start()
        print(f"BuildGrid at {stack.endpoint} (instance \"\"), {len(stack.bots)} bots; logs in {stack.work_dir / 'logs'}",
              flush=True)
        # About 100 concurrent calls per connection: keep Bazel's uploads under the server's
        # thread-pool-size (buildgrid.yml.in).
        remote_flags = ["--config=remote", f"--remote_executor={stack.endpoint}", "--remote_max_connections=8"]
        if args.serve:
            print(f"serving; use: bazel build {' '.join(remote_flags)} {TARGET}   (Ctrl-C stops)", flush=True)
            while True:
                time.sleep(3600)
        reference: dict[str, str] | None = None

        def client(name: str, flags: list[str]) -> Client:
            made = Client(name, work_dir / f"ob_{name}", flags, log_dir)
            clients.append(made)
            return made

        if "local" in phases:
            print("== local: a clean client, no remote", flush=True)
            local = client("local", [])
            times["local fetch"] = local.fetch()
            cold = local.build("cold")
            times["cold local build"] = cold.seconds
            warm = local.build("warm")
            times["warm local build (nothing changed)"] = warm.seconds
            summaries += [f"local cold: {cold.summary}", f"local warm: {warm.summary}"]
            reference = cold.bundle
            checks.check(bool(reference), f"local bundle has {len(reference)} files")
            print("  local bundle sha256:")
            for name, digest in reference.items():
                print(f"    {digest}  {name}")
            local.shutdown(remove=not args.keep)

        if "remote" in phases:
            print("== remote: a clean client with --config=remote", flush=True)
            remote = client("remote", remote_flags)
            times["remote fetch"] = remote.fetch()
            result = remote.build("build")
            times["remote execution build (cold cache)"] = result.seconds
            summaries.append(f"remote: {result.summary}")
            runners = result.runners()
            print(f"  runners: {runners}")
            for mnemonic in ("LlmExport", "IreeCompile"):
                checks.check(bool(runners.get(mnemonic)) and all(r == "remote" for r in runners[mnemonic]),
                             f"{mnemonic} executed on the bots (runners: {runners.get(mnemonic)})")
            same_bundle(checks, reference, result.bundle, "remote")
            remote.shutdown(remove=not args.keep)

        if "cached" in phases:
            print("== cached: a second clean client with --config=remote", flush=True)
            cached = client("cached", remote_flags)
            times["cached fetch"] = cached.fetch()
            result = cached.build("build")
            times["remote cache hit build"] = result.seconds
            summaries.append(f"cached: {result.summary}")
            runners = result.runners()
            print(f"  runners: {runners}")
            executed = [runner for mnemonic in REMOTE_MNEMONICS for runner in runners.get(mnemonic, [])
                        if runner != "remote cache hit"]
            checks.check(not executed and all(runners.get(m) for m in ("LlmExport", "IreeCompile")),
                         f"every export/compile/tokenizer/manifest action a remote cache hit ({len(executed)} executed)")
            counts = summary_counts(result.summary)
            checks.check(counts.get("remote", 0) == 0 and counts.get("remote cache hit", 0) > 0,
                         f"Bazel's summary: 0 executed remotely, {counts.get('remote cache hit', 0)} remote cache hits")
            same_bundle(checks, reference, result.bundle, "cached")
            cached.shutdown(remove=not args.keep)

        if "killbot" in phases:
            print("== killbot: a clean client, --noremote_accept_cached, one bot killed during the export", flush=True)
            killbot = client("killbot", remote_flags)
            times["killbot fetch"] = killbot.fetch()
            started, done, report = threading.Event(), threading.Event(), {}
            killer = threading.Thread(target=kill_bot_during_export, args=(stack, started, done, report), daemon=True)
            killer.start()
            try:
                result: BuildResult | None = killbot.build("build", ["--noremote_accept_cached"], background=started)
            except RuntimeError as error:
                print(f"  {error}")
                result = None
            finally:
                done.set()
                killer.join(timeout=60)
            checks.check(report.get("killed", "").startswith("bot"), f"a bot was killed: {report.get('killed')}")
            checks.check(result is not None, "the build completed after the kill")
            if result is not None:
                times["remote execution build with a bot killed"] = result.seconds
                summaries.append(f"killbot: {result.summary}")
                print(f"  runners: {result.runners()}")
                exports = [s for s in result.spawns if s.get("mnemonic") == "LlmExport"]
                jobs = stack.jobs(exports[0]["digest"]["hash"]) if exports else []
                print(f"  BuildGrid's records of the export action: {jobs}")
                last = jobs[-1] if jobs else {}
                checks.check(int(last.get("n_tries", "0")) >= 2 and last.get("worker_name") != report.get("victim_id"),
                             f"the export was retried on another bot (tries {last.get('n_tries')}, "
                             f"finished on {last.get('worker_name')}, killed {report.get('victim_id')})")
                same_bundle(checks, reference, result.bundle, "killbot")
            killbot.shutdown(remove=not args.keep)

        print("== Bazel's process summaries")
        for line in summaries:
            print(f"  {line}")
        print("== times (seconds; fetches of the pip hub are separate and excluded from build times)")
        for what, seconds in times.items():
            print(f"  {what:45s} {seconds:8.1f}")
        print(f"== {checks.failed} check(s) failed" if checks.failed else "== all checks passed")
        return 1 if checks.failed else 0
    finally:
        for made in clients:
            made.shutdown(remove=not args.keep)
        stack.stop()
        if not args.keep and args.work_dir is None:
            print(f"(logs kept in {log_dir}; remove {work_dir} when done)")


if __name__ == "__main__":
    sys.exit(main())
