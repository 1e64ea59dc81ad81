"""Where a bundle's prefill or decode time goes, per IREE dispatch (Linux `perf`, llvm-cpu bundles).

IREE's default CPU executables are embedded ELF images that perf cannot name. Compile the bundle's
model.mlir again with the bundle's iree-compile flags plus `--iree-llvmcpu-link-embedded=false`, so
the dispatches are a system shared library, and give that VMFB here:

    iree-compile bazel-bin/artifacts/smollm2_cpu_export/model.mlir FLAGS... \\
        --iree-llvmcpu-link-embedded=false -o /tmp/system_library.vmfb
    python -m artifacts.profile_dispatches --bundle bazel-bin/artifacts/smollm2_cpu \\
        --vmfb /tmp/system_library.vmfb --phase prefill --prompt-length 512

A bundle built with `prepack_weights` holds weights packed for its own VMFB: compile the export's
model.mlir with the same parameter import/export flags (docs/performance.md, section 6), share the
storage of the result with `python -m toolchains.share_parameter_storage`, and give that archive as
--irpa (e.g. the export's model.irpa in `bazel-bin/artifacts/smollm2_cpu_export/`).

A child process loads the bundle with that VMFB in place of model.vmfb (and --irpa for model.irpa), runs the phase in a loop,
and `perf record` samples it for --seconds. IREE loads the library from a memory file, so perf
reports raw addresses; they are mapped to dispatch names with the symbol table (`nm`) of the
library inside the VMFB (a zip). The table printed gives each dispatch's share of the samples; time
outside the dispatches (kernel, Python, runtime) is grouped by the binary it was in.
"""

import argparse
import bisect
import collections
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

SYSTEM_LIBRARY_SUFFIX = ".so"
# `perf report --stdio --sort dso,symbol` rows: "  12.34%  dso-name  [.] symbol-or-address".
_REPORT_ROW = re.compile(r"^\s*([\d.]+)%\s+(.+?)\s+\[[.k]\]\s+(\S+)")


class ProfileError(Exception):
    """The profile cannot be taken; the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class SymbolTable:
    """Function start addresses of one shared library and their names, sorted by address."""

    addresses: tuple[int, ...]
    names: tuple[str, ...]

    def name_at(self, address: int) -> str:
        """The function containing `address` (the last one starting at or before it)."""
        index = bisect.bisect_right(self.addresses, address) - 1
        return self.names[index] if index >= 0 else f"(before the first function) {address:#x}"


def parse_nm(text: str) -> SymbolTable:
    """The text (`t`/`T`) symbols of `nm --defined-only` output."""
    symbols = []
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] in ("t", "T"):
            symbols.append((int(parts[0], 16), parts[2]))
    symbols.sort()
    return SymbolTable(tuple(address for address, _ in symbols), tuple(name for _, name in symbols))


def system_library_symbols(vmfb: Path, scratch: Path) -> SymbolTable:
    """The symbol table of the system shared library inside `vmfb` (extracted into `scratch`)."""
    try:
        with zipfile.ZipFile(vmfb) as archive:
            libraries = [name for name in archive.namelist() if name.endswith(SYSTEM_LIBRARY_SUFFIX)]
            if len(libraries) != 1:
                raise ProfileError(
                    f"{vmfb}: holds {len(libraries)} system libraries ({', '.join(libraries) or 'none'}), "
                    "expected one. Fix: compile with --iree-llvmcpu-link-embedded=false for one llvm-cpu target."
                )
            library = scratch / Path(libraries[0]).name
            library.write_bytes(archive.read(libraries[0]))
    except zipfile.BadZipFile as error:
        raise ProfileError(f"{vmfb}: not a VMFB archive ({error}). Fix: give the iree-compile output.") from error
    completed = subprocess.run(["nm", "--defined-only", str(library)], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise ProfileError(f"{library}: nm failed: {completed.stderr.strip()}")
    table = parse_nm(completed.stdout)
    if not table.addresses:
        raise ProfileError(f"{library}: no function symbols (stripped?). Fix: compile without stripping symbols.")
    return table


def dispatch_shares(report_lines: Iterable[str], library_symbols: SymbolTable) -> dict[str, float]:
    """Sample shares (percent) per dispatch from `perf report --stdio --sort dso,symbol` lines.

    Samples in IREE's in-memory library (a dso named `iree_dylib_*`) are named through
    `library_symbols`; all others are grouped as `(outside the dispatches) DSO`."""
    shares: collections.Counter[str] = collections.Counter()
    for line in report_lines:
        if line.startswith("#"):
            continue
        match = _REPORT_ROW.match(line)
        if not match:
            continue
        share, dso, symbol = float(match.group(1)), match.group(2).strip(), match.group(3)
        if "iree_dylib" in dso and symbol.startswith("0x"):
            shares[library_symbols.name_at(int(symbol, 16))] += share
        else:
            shares[f"(outside the dispatches) {dso.split()[0]}"] += share
    return dict(shares)


def _profiling_bundle(bundle_dir: Path, vmfb: Path, irpa: Path | None, directory: Path) -> Path:
    """A bundle directory in `directory`: links to `bundle_dir`'s files with `vmfb` as model.vmfb
    (and `irpa`, if given, as model.irpa), and a manifest whose entries for them are theirs."""
    from artifacts import bundle

    manifest = bundle.read_manifest(bundle_dir)
    replaced = {bundle.MODEL_VMFB: vmfb}
    if irpa is not None:
        replaced[bundle.MODEL_IRPA] = irpa
    profiled = directory / "bundle"
    profiled.mkdir()
    for name in manifest.files:
        os.symlink(replaced.get(name, bundle_dir / name).resolve(), profiled / name)
    files = dict(manifest.files)
    for name, path in replaced.items():
        files[name] = bundle.BundleFile(sha256=bundle.file_sha256(path), size=path.stat().st_size)
    (profiled / bundle.MANIFEST_NAME).write_text(dataclasses.replace(manifest, files=files).to_json())
    return profiled


def run_worker(args: argparse.Namespace) -> int:
    """Child-process mode: loads the bundle, says "ready", runs the phase until stdin closes."""
    import iree.runtime

    from artifacts.runtime import load_bundle

    iree.runtime.flags.parse_flags(f"--task_topology_max_group_count={args.threads}")
    runtime = load_bundle(args.bundle)
    vocabulary_size = runtime.tokenizer.get_vocab_size(with_added_tokens=True)
    ids = [(index * 7919) % vocabulary_size for index in range(args.prompt_length)]
    count = 1 if args.phase == "prefill" else 1 + args.decode_tokens
    runtime.generate(ids, count, stop_token_ids=[])  # warm-up
    print("ready", flush=True)
    runs, start = 0, time.perf_counter()
    deadline = start + args.seconds + 5
    while time.perf_counter() < deadline:
        runtime.generate(ids, count, stop_token_ids=[])
        runs += 1
    print(json.dumps({"runs": runs, "seconds_per_run": (time.perf_counter() - start) / runs}), flush=True)
    sys.stdin.read()
    return 0


def profile(args: argparse.Namespace) -> int:
    """Parent mode: starts the worker, samples it with perf, prints the shares."""
    if shutil.which("perf") is None:
        raise ProfileError("perf is not on PATH. Fix: install linux-perf (Debian) or run on a machine with perf.")
    with tempfile.TemporaryDirectory(prefix="profile_dispatches.") as scratch_name:
        scratch = Path(scratch_name)
        symbols = system_library_symbols(args.vmfb, scratch)
        profiled = _profiling_bundle(args.bundle, args.vmfb, args.irpa, scratch)
        command = [
            sys.executable, "-m", "artifacts.profile_dispatches", "--worker",
            "--bundle", str(profiled), "--vmfb", str(args.vmfb), "--phase", args.phase,
            "--prompt-length", str(args.prompt_length), "--decode-tokens", str(args.decode_tokens),
            "--seconds", str(args.seconds), "--threads", str(args.threads),
        ]
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), environment.get("PYTHONPATH")])
        )
        worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)
        try:
            if worker.stdout.readline().strip() != "ready":
                raise ProfileError(f"the worker did not start (exit {worker.wait()}); see its error above")
            data = scratch / "perf.data"
            subprocess.run(
                ["perf", "record", "-F", "999", "-p", str(worker.pid), "-o", str(data), "--", "sleep", str(args.seconds)],
                capture_output=True, check=True,
            )
            timing = json.loads(worker.stdout.readline())
            report = subprocess.run(
                ["perf", "report", "-i", str(data), "--stdio", "--sort", "dso,symbol"],
                capture_output=True, text=True, check=True,
            ).stdout
        finally:
            worker.stdin.close()
            worker.wait()
    shares = dispatch_shares(report.splitlines(), symbols)
    what = f"{args.phase} of {args.prompt_length} tokens" + (
        f" then {args.decode_tokens} decode steps" if args.phase == "decode" else ""
    )
    print(f"{what}: {timing['seconds_per_run']:.3f} s per run, {timing['runs']} runs; samples per dispatch:")
    for name, share in sorted(shares.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{share:7.2f}%  {name}")
    return 0


def main(argv: Sequence[str]) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m artifacts.profile_dispatches", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the bundle directory")
    parser.add_argument("--vmfb", type=Path, required=True, help="the model compiled with --iree-llvmcpu-link-embedded=false")
    parser.add_argument("--irpa", type=Path, help="weights for that VMFB, when the bundle's were packed at build time")
    parser.add_argument("--phase", choices=("prefill", "decode"), default="prefill")
    parser.add_argument("--prompt-length", type=int, default=512)
    parser.add_argument("--decode-tokens", type=int, default=32, help="decode steps per run (--phase decode)")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long perf samples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=15, help="rows to print")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.bundle, args.vmfb = args.bundle.resolve(), args.vmfb.resolve()
    args.irpa = args.irpa.resolve() if args.irpa else None
    try:
        return run_worker(args) if args.worker else profile(args)
    except ProfileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
