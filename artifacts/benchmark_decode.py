"""Benchmark: decode speed, prefill time and peak memory of a bundle against HF transformers and llama.cpp.

Runs the same prompts, as the same token ids, through
  - the bundle (artifacts.runtime, IREE),
  - transformers eager (f32, KV cache) on the GGUF the bundle was built from,
  - llama.cpp through `llama_cpp` on that GGUF, when the package is importable (otherwise reported as
    skipped),
each in its own child process (so that each peak RSS is that engine's alone), with the same number of
threads (--threads, default 2), one after the other. It prints, side by side:
  - decode tokens/s after the short prompt and after the long one: each engine reports every token
    as it is chosen, and the rate is (N - 1) / (time of the last token - time of the first), so
    prefill is not counted in it (after the long prompt each step attends over ~512 cached positions);
  - prefill seconds (the time to the first generated token) of a 37-token and a 512-token prompt;
  - prefill seconds of a 1,024-token prompt, cold and right after another prompt with the same first
    1,000 tokens (the engine's prefix cache, if it has one: the bundle's when it was exported with
    prefill_from_bs1, llama.cpp's reuse of the previous prompt's common prefix; transformers has none);
  - the peak RSS of the engine's process (model loaded, the 37- and 512-token figures measured, before
    the shared-prefix prompts);
and each figure's ratio to llama.cpp's when llama.cpp ran, else to transformers'. Each time is the
median of --repeats runs. The prompts are the first 37 and 512 token ids of a fixed English/MLIR text.
Every figure but the shared-prefix one starts from an empty prefix cache.

    python -m artifacts.benchmark_decode --bundle DIR --gguf FILE [--new-tokens 64] [--repeats 5]
"""

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

ENGINES = ("iree", "transformers", "llama.cpp")
PROMPT_LENGTHS = (37, 512)
SHARED_PREFIX_LENGTH = 1000
SHARED_PREFIX_SUFFIXES = (
    "Now answer in one sentence: which pass removes the duplicated multiplication, and why?",
    "Instead, list the dialects this function uses and the types of its arguments and results.",
)
SHARED_PREFIX_SUFFIX_LENGTH = 24
LLAMA_CPP_SKIPPED = "skipped: llama-cpp-python not installed"
PROMPT_TEXT = (
    "You are a compiler engineer who answers precisely. Here is an MLIR function:\n"
    "func.func @add(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {\n"
    "  %0 = arith.addf %a, %b : tensor<4xf32>\n"
    "  %1 = arith.mulf %0, %0 : tensor<4xf32>\n"
    "  return %1 : tensor<4xf32>\n"
    "}\n"
    "Explain what it computes, which passes could fuse the two operations, and what the result is for "
    "a = [1, 2, 3, 4] and b = [4, 3, 2, 1]. "
)

# generate(prompt ids, count, on_token) -> the `count` greedy tokens; on_token(token) is called as
# each token is chosen.
Generator = Callable[[list[int], int, Callable[[int], None]], list[int]]
# forget() empties the engine's prefix cache, so that the next prompt is prefilled in full.
Forget = Callable[[], None]


def prompt_ids(encode: Callable[[str], list[int]], length: int) -> list[int]:
    """The first `length` token ids of PROMPT_TEXT repeated as often as needed."""
    text = PROMPT_TEXT
    while len(encode(text)) < length:
        text += PROMPT_TEXT
    return encode(text)[:length]


def timed_generation(generate: Generator, ids: list[int], count: int) -> tuple[list[int], list[float]]:
    """The tokens of one generation and the seconds from its start at which each was chosen."""
    start = time.perf_counter()
    times: list[float] = []
    tokens = generate(ids, count, lambda token: times.append(time.perf_counter() - start))
    if len(times) != len(tokens):
        raise RuntimeError(f"the engine reported {len(times)} tokens but returned {len(tokens)}")
    return tokens, times


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def shared_prefix_prompts(encode: Callable[[str], list[int]]) -> tuple[list[int], list[int]]:
    """Two prompts of SHARED_PREFIX_LENGTH + SHARED_PREFIX_SUFFIX_LENGTH tokens that share the
    first SHARED_PREFIX_LENGTH."""
    prefix = prompt_ids(encode, SHARED_PREFIX_LENGTH)
    first, second = (prefix + encode(" " + suffix)[:SHARED_PREFIX_SUFFIX_LENGTH] for suffix in SHARED_PREFIX_SUFFIXES)
    return first, second


def measure(
    generate: Generator,
    forget: Forget,
    prompts: dict[int, list[int]],
    shared_prefix: tuple[list[int], list[int]],
    new_tokens: int,
    repeats: int,
) -> dict:
    """Prefill seconds per prompt length, decode tokens/s after the shortest and the longest
    prompt, the greedy tokens generated after the shortest, the prefill seconds of the second
    shared-prefix prompt cold and after the first, and the peak RSS."""
    shortest, longest = min(prompts), max(prompts)
    # warm-up: first-call allocations and page faults are not counted
    timed_generation(generate, prompts[shortest], 2)
    prefill_s: dict[str, list[float]] = {str(length): [] for length in prompts}
    decode_tok_s: dict[str, list[float]] = {str(length): [] for length in prompts}
    short_prompt_tokens: list[int] = []
    for _ in range(repeats):
        for length, ids in prompts.items():
            forget()
            tokens, times = timed_generation(generate, ids, new_tokens)
            if length == shortest:
                short_prompt_tokens = tokens
            prefill_s[str(length)].append(times[0])
            decode_tok_s[str(length)].append((new_tokens - 1) / (times[-1] - times[0]))
    # The peak RSS of the figures above; the longer shared-prefix prompts come after it.
    peak_rss = peak_rss_bytes()
    shared_s: dict[str, list[float]] = {"cold": [], "after_prefix": []}
    first, second = shared_prefix
    for _ in range(repeats):
        forget()
        shared_s["cold"].append(timed_generation(generate, second, 1)[1][0])
        forget()
        timed_generation(generate, first, 1)
        shared_s["after_prefix"].append(timed_generation(generate, second, 1)[1][0])
    return {
        "prefill_s": {length: statistics.median(values) for length, values in prefill_s.items()},
        "decode_tok_s": statistics.median(decode_tok_s[str(shortest)]),
        "decode_long_tok_s": statistics.median(decode_tok_s[str(longest)]),
        "shared_prefix_prefill_s": {name: statistics.median(values) for name, values in shared_s.items()},
        "tokens": short_prompt_tokens,
        "peak_rss_bytes": peak_rss,
    }


def iree_engine(bundle_dir: Path, gguf: Path, threads: int, driver: Optional[str]) -> tuple[str, Generator, Forget]:
    import iree.runtime

    from artifacts.runtime import load_bundle

    # local-task's worker count; must be set before the bundle's device is created.
    iree.runtime.flags.parse_flags(f"--task_topology_max_group_count={threads}")
    runtime = load_bundle(bundle_dir, driver=driver)
    name = f"iree {runtime.manifest.target}/{runtime.driver}, {threads} threads"
    if runtime.prefix_cache_enabled:
        name += ", prefix cache"

    def generate(ids: list[int], count: int, on_token: Callable[[int], None]) -> list[int]:
        return runtime.generate(ids, count, stop_token_ids=[], on_token=on_token)

    return name, generate, runtime.clear_prefix_cache


def transformers_engine(bundle_dir: Path, gguf: Path, threads: int, driver: Optional[str]) -> tuple[str, Generator, Forget]:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, torch_dtype=torch.float32)
    model.eval()

    def generate(ids: list[int], count: int, on_token: Callable[[int], None]) -> list[int]:
        generated = []
        with torch.no_grad():
            output = model(torch.tensor([ids]), use_cache=True)
            while True:
                token = int(torch.argmax(output.logits[0, -1]))
                generated.append(token)
                on_token(token)
                if len(generated) == count:
                    return generated
                output = model(torch.tensor([[token]]), past_key_values=output.past_key_values, use_cache=True)

    name = f"transformers {torch.__version__} eager f32, {torch.get_num_threads()} threads"
    return name, generate, lambda: None  # every call prefills its whole prompt


def llama_cpp_engine(bundle_dir: Path, gguf: Path, threads: int, driver: Optional[str]) -> tuple[str, Generator, Forget]:
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(gguf), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)

    def generate(ids: list[int], count: int, on_token: Callable[[int], None]) -> list[int]:
        generated = []
        # reset=True keeps the longest prefix the previous prompt shares with this one (its
        # prefix reuse), unless model.reset() (forget) emptied the context first.
        for token in model.generate(ids, temp=0.0, top_k=1, reset=True):
            generated.append(int(token))
            on_token(int(token))
            if len(generated) == count:
                return generated
        return generated

    return f"llama.cpp {llama_cpp.__version__}, {threads} threads", generate, model.reset


ENGINE_FACTORIES = {"iree": iree_engine, "transformers": transformers_engine, "llama.cpp": llama_cpp_engine}


def run_engine(args: argparse.Namespace) -> int:
    """Child-process mode: measures one engine and prints its figures as one JSON line."""
    import tokenizers

    from artifacts import bundle

    tokenizer = tokenizers.Tokenizer.from_file(str(args.bundle / bundle.TOKENIZER_JSON))

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False).ids

    prompts = {length: prompt_ids(encode, length) for length in PROMPT_LENGTHS}
    name, generate, forget = ENGINE_FACTORIES[args.engine](args.bundle, args.gguf, args.threads, args.driver)
    figures = measure(generate, forget, prompts, shared_prefix_prompts(encode), args.new_tokens, args.repeats)
    figures["name"] = name
    print(json.dumps(figures))
    return 0


def measure_in_child(engine: str, args: argparse.Namespace) -> dict:
    """Runs `engine` in a child process of this module (same interpreter and import path)."""
    command = [
        sys.executable, "-m", "artifacts.benchmark_decode",
        "--engine", engine,
        "--bundle", str(args.bundle),
        "--gguf", str(args.gguf),
        "--threads", str(args.threads),
        "--new-tokens", str(args.new_tokens),
        "--repeats", str(args.repeats),
    ]
    if args.driver:
        command += ["--driver", args.driver]
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), environment.get("PYTHONPATH")]))
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"the {engine} measurement failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def format_table(results: dict[str, dict], reference: str, new_tokens: int) -> list[str]:
    """The side-by-side table: one row per engine, ratios to `reference`'s figures."""
    base = results[reference]
    short, long = (str(length) for length in PROMPT_LENGTHS)
    lines = [
        f"{'engine':<44} {'decode tok/s':>12} {'decode@' + long + ' tok/s':>16} {'prefill ' + short + ' s':>13} "
        f"{'prefill ' + long + ' s':>14} {'peak RSS MiB':>12} {'same tokens':>11}",
    ]
    for engine, figures in results.items():
        agreeing = sum(1 for a, b in zip(figures["tokens"], results["transformers"]["tokens"]) if a == b)
        lines.append(
            f"{figures['name']:<44} {figures['decode_tok_s']:>12.2f} {figures['decode_long_tok_s']:>16.2f} "
            f"{figures['prefill_s'][short]:>13.3f} {figures['prefill_s'][long]:>14.3f} "
            f"{figures['peak_rss_bytes'] / 2**20:>12.0f} {agreeing:>5}/{new_tokens}"
        )
        if engine != reference:
            lines.append(
                f"{'  ratio to ' + reference:<44} {figures['decode_tok_s'] / base['decode_tok_s']:>11.2f}x "
                f"{figures['decode_long_tok_s'] / base['decode_long_tok_s']:>15.2f}x "
                f"{figures['prefill_s'][short] / base['prefill_s'][short]:>12.2f}x "
                f"{figures['prefill_s'][long] / base['prefill_s'][long]:>13.2f}x "
                f"{figures['peak_rss_bytes'] / base['peak_rss_bytes']:>11.2f}x"
            )
    lines.append(
        f"ratios: decode is tok/s over {reference}'s (higher is faster; decode@{long}: after the "
        f"{long}-token prompt); prefill and RSS are over {reference}'s (lower is better). same "
        f"tokens: greedy tokens equal to transformers' after the {short}-token prompt."
    )
    total = SHARED_PREFIX_LENGTH + SHARED_PREFIX_SUFFIX_LENGTH
    lines.append("")
    lines.append(
        f"{'engine':<44} {'prefill ' + str(total) + ' s, cold':>20} {'after a shared ' + str(SHARED_PREFIX_LENGTH) + '-token prefix s':>35} "
        f"{'speed-up':>9}"
    )
    base_shared = base["shared_prefix_prefill_s"]
    for engine, figures in results.items():
        shared = figures["shared_prefix_prefill_s"]
        lines.append(
            f"{figures['name']:<44} {shared['cold']:>20.3f} {shared['after_prefix']:>35.3f} "
            f"{shared['cold'] / shared['after_prefix']:>8.1f}x"
        )
        if engine != reference:
            lines.append(
                f"{'  ratio to ' + reference:<44} {shared['cold'] / base_shared['cold']:>19.2f}x "
                f"{shared['after_prefix'] / base_shared['after_prefix']:>34.2f}x"
            )
    lines.append(
        f"shared prefix: the time to the first token of a {total}-token prompt, with nothing cached and "
        f"right after a prompt with the same first {SHARED_PREFIX_LENGTH} tokens (lower is better)."
    )
    return lines


def main(argv: Sequence[str]) -> int:
    """Command-line entry point; prints the figures and returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m artifacts.benchmark_decode", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the bundle directory")
    parser.add_argument("--gguf", type=Path, required=True, help="the GGUF the bundle was built from")
    parser.add_argument("--driver", help="IREE driver (default: the bundle's)")
    parser.add_argument("--threads", type=int, default=2, help="threads of every engine (default 2)")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens to generate per decode run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (the median is reported)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)  # child-process mode
    args = parser.parse_args(argv)
    if args.new_tokens < 2:
        parser.error("--new-tokens must be at least 2")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    args.bundle = args.bundle.resolve()
    args.gguf = args.gguf.resolve()
    if args.engine:
        return run_engine(args)

    engines = ["iree", "transformers"]
    skipped = {}
    if importlib.util.find_spec("llama_cpp") is not None:
        engines.append("llama.cpp")
    else:
        skipped["llama.cpp"] = LLAMA_CPP_SKIPPED
    results = {engine: measure_in_child(engine, args) for engine in engines}
    reference = "llama.cpp" if "llama.cpp" in results else "transformers"

    print(
        f"bundle {args.bundle}, {args.threads} threads, decode of {args.new_tokens} tokens after the "
        f"{PROMPT_LENGTHS[0]}-token prompt, median of {args.repeats}; machine: {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    for line in format_table(results, reference, args.new_tokens):
        print(line)
    for name, reason in skipped.items():
        print(f"{name}: {reason}")
    if args.json:
        temp = args.json.with_name(f".{args.json.name}.tmp")
        temp.write_text(json.dumps({"results": results, "skipped": skipped, "reference": reference}, indent=2, sort_keys=True) + "\n")
        os.replace(temp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
