"""Benchmark: passlib's server against llama.cpp's own server, same GGUF, same threads, same requests.

Starts each server on 127.0.0.1 in its own process, one after the other:
  - `python -m passlib.cli serve --model BUNDLE` (the bundle built from the GGUF),
  - `python -m llama_cpp.server --model GGUF` (llama-cpp-python's OpenAI-compatible server; it has no
    parallel slots: it answers one request at a time; by default a new request interrupts the one
    streaming, which would cut answers short, so --interrupt_requests False),
and at each concurrency (--concurrency, default 1, 4 and 16) sends that many streaming
`/v1/completions` requests at once (greedy, --new-tokens each, prompts of mixed lengths). It prints,
side by side and as ratios to llama.cpp's:
  - aggregate tokens/s: the tokens of every answer (the answers' text re-encoded with the bundle's
    tokenizer, the same count for both servers) over the time from the first request to the last
    answer's end;
  - time to first token, p50 and p99 over the requests: from sending the request to the first
    streamed piece of text;
  - the server process's peak RSS (VmHWM) after all its runs.
Each concurrency runs once after a warm-up request; every request carries its own prompt, so llama.cpp
cannot answer it from its previous prompt's cache, and ours from its prefix cache only as far as the
prompts share their first pages (the common instruction).

    bazel run //passlib:benchmark_serve
    python -m passlib.benchmark_serve --bundle DIR --gguf FILE [--concurrency 1,4,16] [--new-tokens 32]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

READY_TIMEOUT_S = 300
REQUEST_TIMEOUT_S = 600
INSTRUCTION = "Continue this text about compilers in plain English, at length:"
TOPICS = ("register allocation", "loop tiling", "instruction scheduling", "constant folding",
          "inlining", "vectorization", "dead code elimination", "alias analysis")


def prompts(count: int) -> list[str]:
    """`count` distinct prompts of mixed lengths (one to eight topic sentences)."""
    return [
        f"{INSTRUCTION} " + " ".join(f"Part {part}: {TOPICS[(index + part) % len(TOPICS)]} matters because"
                                     for part in range(1 + index % 8)) + f" (request {index})."
        for index in range(count)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(engine: str, args: argparse.Namespace, port: int) -> list[str]:
    if engine == "passlib":
        return [sys.executable, "-m", "passlib.cli", "serve", "--model", str(args.bundle), "--port", str(port),
                "--quiet", "--max-sequences", str(max(args.concurrency)), "--queue-size", "256"]
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(args.gguf), "--host", "127.0.0.1",
            "--port", str(port), "--n_threads", str(args.threads), "--n_threads_batch", str(args.threads),
            "--n_ctx", "2048", "--interrupt_requests", "False"]


@contextlib.contextmanager
def running(engine: str, args: argparse.Namespace) -> Iterator[tuple[int, subprocess.Popen]]:
    """Starts one server and waits until /v1/models answers; yields its port and process."""
    port = free_port()
    # The servers see the packages this interpreter sees (under Bazel they are on sys.path only).
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), *sys.path])}
    log = open(args.log_dir / f"{engine}.log", "w")
    process = subprocess.Popen(server_command(engine, args, port), stdout=log, stderr=subprocess.STDOUT,
                               env=environment)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the {engine} server exited ({process.returncode}); see {log.name}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/v1/models")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {engine} server did not answer in {READY_TIMEOUT_S} s; see {log.name}")
            time.sleep(0.5)
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def streamed_completion(port: int, model: str, prompt: str, new_tokens: int) -> dict:
    """One streaming /v1/completions request: its text, and seconds to the first piece and to the end."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    body = {"model": model, "prompt": prompt, "max_tokens": new_tokens, "temperature": 0, "stream": True}
    connection.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}: {response.read()[:300]!r}")
    pieces, first = [], None
    while line := response.readline():
        line = line.strip()
        if not line.startswith(b"data:") or line == b"data: [DONE]":
            continue
        text = json.loads(line[5:])["choices"][0].get("text") or ""
        if text and first is None:
            first = time.perf_counter() - started
        pieces.append(text)
    connection.close()
    return {"text": "".join(pieces), "first_s": first, "end_s": time.perf_counter() - started}


def model_name(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/v1/models")
    return json.loads(connection.getresponse().read())["data"][0]["id"]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(engine: str, args: argparse.Namespace, count_tokens) -> dict:
    figures = {}
    with running(engine, args) as (port, process):
        model = model_name(port)
        streamed_completion(port, model, "Warm up.", 4)
        offset = 0
        for concurrency in args.concurrency:
            batch = prompts(offset + concurrency)[offset:]
            offset += concurrency
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(lambda p: streamed_completion(port, model, p, args.new_tokens), batch))
            wall = time.perf_counter() - started
            tokens = sum(count_tokens(result["text"]) for result in results)
            first = [result["first_s"] for result in results if result["first_s"] is not None]
            figures[str(concurrency)] = {
                "tok_s": tokens / wall, "tokens": tokens, "wall_s": wall,
                "ttft_p50_s": statistics.median(first), "ttft_p99_s": percentile(first, 0.99),
            }
        status = Path(f"/proc/{process.pid}/status").read_text()
        figures["peak_rss_bytes"] = int(next(line for line in status.splitlines()
                                             if line.startswith("VmHWM:")).split()[1]) * 1024
    return figures


def format_table(results: dict[str, dict], concurrency: Sequence[int]) -> list[str]:
    lines = [f"{'server':<10} {'clients':>7} {'tok/s':>8} {'TTFT p50 s':>11} {'TTFT p99 s':>11}   "
             f"ratio to llama.cpp: tok/s (higher is better), TTFT p50, p99 (lower is better)"]
    base = results.get("llama.cpp")
    for engine, figures in results.items():
        for clients in map(str, concurrency):
            row = figures[clients]
            line = (f"{engine:<10} {clients:>7} {row['tok_s']:>8.2f} {row['ttft_p50_s']:>11.3f} "
                    f"{row['ttft_p99_s']:>11.3f}")
            if base is not None and engine != "llama.cpp":
                other = base[clients]
                line += (f"   {row['tok_s'] / other['tok_s']:.2f}x, {row['ttft_p50_s'] / other['ttft_p50_s']:.2f}x, "
                         f"{row['ttft_p99_s'] / other['ttft_p99_s']:.2f}x")
            lines.append(line)
    lines.append("peak RSS: " + ", ".join(f"{engine} {figures['peak_rss_bytes'] / 2**20:.0f} MiB"
                                         for engine, figures in results.items()))
    return lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m passlib.benchmark_serve", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the bundle directory")
    parser.add_argument("--gguf", type=Path, required=True, help="the GGUF the bundle was built from")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp's threads (default 2; IREE uses every core)")
    parser.add_argument("--concurrency", default="1,4,16", help="clients at once, comma-separated (default 1,4,16)")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens each answer may have (default 32)")
    parser.add_argument("--log-dir", type=Path, help="where the servers' logs go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    try:
        args.concurrency = [int(value) for value in args.concurrency.split(",")]
    except ValueError:
        parser.error(f"--concurrency takes comma-separated integers, got {args.concurrency!r}")
    if min(args.concurrency) < 1 or args.new_tokens < 1:
        parser.error("--concurrency values and --new-tokens must be at least 1")
    args.bundle, args.gguf = args.bundle.resolve(), args.gguf.resolve()
    if args.log_dir is None:
        import tempfile

        args.log_dir = Path(tempfile.mkdtemp(prefix="benchmark_serve."))
    args.log_dir.mkdir(parents=True, exist_ok=True)

    import tokenizers

    from artifacts import bundle

    tokenizer = tokenizers.Tokenizer.from_file(str(args.bundle / bundle.TOKENIZER_JSON))

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    results = {engine: measure(engine, args, count_tokens) for engine in ("passlib", "llama.cpp")}
    print(f"bundle {args.bundle}; {args.new_tokens} new tokens per request, greedy, streaming /v1/completions; "
          f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end; logs in {args.log_dir}")
    for line in format_table(results, args.concurrency):
        print(line)
    if args.json:
        temporary = args.json.with_name(f".{args.json.name}.tmp")
        temporary.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
