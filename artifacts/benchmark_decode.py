"""Benchmark: prefill time and greedy decode speed of a bundle against HF transformers (and llama.cpp).

Runs the same prompts, as the same token ids, through
  - the bundle (artifacts.runtime, IREE),
  - transformers eager (f32, KV cache) on the GGUF the bundle was built from,
  - llama.cpp through `llama_cpp` on that GGUF, when the package is importable (otherwise reported as
    skipped),
in one process, one after the other, and prints prefill seconds, decode tokens/s and their ratios to
transformers. Decode speed is measured as (N - 1) / (time of generating N tokens - time of generating
1 token), so prefill is not counted in it. Each figure is the median of --repeats runs.

    python -m artifacts.benchmark_decode --bundle DIR --gguf FILE [--new-tokens 32] [--repeats 3]
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

PROMPTS = {
    "short": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "long": [
        {"role": "system", "content": "You are a compiler engineer who answers precisely."},
        {
            "role": "user",
            "content": "Here is an MLIR function:\n"
            "func.func @add(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {\n"
            "  %0 = arith.addf %a, %b : tensor<4xf32>\n"
            "  %1 = arith.mulf %0, %0 : tensor<4xf32>\n"
            "  return %1 : tensor<4xf32>\n"
            "}\n"
            "Explain what it computes, which passes could fuse the two operations, and what the "
            "result is for a = [1, 2, 3, 4] and b = [4, 3, 2, 1].",
        },
    ],
}


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """The median wall time of `repeats` calls of `run`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(generate: Callable[[int], list[int]], new_tokens: int, repeats: int) -> dict:
    """Prefill seconds (generating one token) and decode tokens/s of a greedy `generate(count)`."""
    first_token = median_seconds(lambda: generate(1), repeats)
    full = median_seconds(lambda: generate(new_tokens), repeats)
    return {
        "prefill_s": first_token,
        "decode_tok_s": (new_tokens - 1) / (full - first_token) if full > first_token else float("nan"),
        "tokens": generate(new_tokens),
    }


def iree_generator(bundle_dir: Path, driver: Optional[str]):
    from artifacts.runtime import load_bundle

    runtime = load_bundle(bundle_dir, driver=driver)

    def for_prompt(prompt_ids: list[int]) -> Callable[[int], list[int]]:
        return lambda count: runtime.generate(prompt_ids, count, stop_token_ids=[])

    return runtime, for_prompt


def transformers_generator(gguf: Path):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, torch_dtype=torch.float32)
    model.eval()

    def for_prompt(prompt_ids: list[int]) -> Callable[[int], list[int]]:
        def generate(count: int) -> list[int]:
            generated = []
            with torch.no_grad():
                output = model(torch.tensor([prompt_ids]), use_cache=True)
                while True:
                    token = int(torch.argmax(output.logits[0, -1]))
                    generated.append(token)
                    if len(generated) == count:
                        return generated
                    output = model(torch.tensor([[token]]), past_key_values=output.past_key_values, use_cache=True)

        return generate

    return f"transformers eager f32, {torch.get_num_threads()} threads", for_prompt


def llama_cpp_generator(gguf: Path, context: int):
    import llama_cpp

    threads = os.cpu_count() or 1
    model = llama_cpp.Llama(model_path=str(gguf), n_ctx=context, n_threads=threads, verbose=False)

    def for_prompt(prompt_ids: list[int]) -> Callable[[int], list[int]]:
        def generate(count: int) -> list[int]:
            model.reset()
            generated = []
            for token in model.generate(prompt_ids, temp=0.0, top_k=1, reset=True):
                generated.append(int(token))
                if len(generated) == count:
                    return generated
            return generated

        return generate

    return f"llama.cpp {llama_cpp.__version__}, {threads} threads", for_prompt


def main(argv: Sequence[str]) -> int:
    """Command-line entry point; prints the figures and returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m artifacts.benchmark_decode", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the bundle directory")
    parser.add_argument("--gguf", type=Path, required=True, help="the GGUF the bundle was built from")
    parser.add_argument("--driver", help="IREE driver (default: the bundle's)")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens to generate per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (the median is reported)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.new_tokens < 2:
        parser.error("--new-tokens must be at least 2")

    runtime, iree_for_prompt = iree_generator(args.bundle, args.driver)
    engines = {f"iree {runtime.manifest.target}/{runtime.driver}": iree_for_prompt}
    reference_name, reference_for_prompt = transformers_generator(args.gguf)
    engines[reference_name] = reference_for_prompt
    skipped = {}
    if importlib.util.find_spec("llama_cpp") is not None:
        name, llama_for_prompt = llama_cpp_generator(args.gguf, runtime.capacity)
        engines[name] = llama_for_prompt
    else:
        skipped["llama.cpp"] = "skipped: the llama_cpp package (llama-cpp-python) is not importable"

    results: dict[str, dict] = {}
    for prompt_name, conversation in PROMPTS.items():
        prompt_ids = runtime.encode_chat(conversation)
        results[prompt_name] = {"prompt_tokens": len(prompt_ids)}
        for engine_name, for_prompt in engines.items():
            results[prompt_name][engine_name] = measure(for_prompt(prompt_ids), args.new_tokens, args.repeats)

    print(
        f"bundle {runtime.manifest.bundle_name} ({args.bundle}), {args.new_tokens} new tokens, "
        f"median of {args.repeats}"
    )
    print(
        f"{'prompt':<10} {'engine':<42} {'prefill s':>10} {'decode tok/s':>13} "
        f"{'prefill x':>10} {'decode x':>9} {'same tokens':>12}"
    )
    for prompt_name, by_engine in results.items():
        reference = by_engine[reference_name]
        for engine_name in engines:
            figures = by_engine[engine_name]
            agreeing = sum(1 for a, b in zip(figures["tokens"], reference["tokens"]) if a == b)
            print(
                f"{prompt_name + ' ' + str(by_engine['prompt_tokens']):<10} {engine_name:<42} "
                f"{figures['prefill_s']:>10.3f} {figures['decode_tok_s']:>13.2f} "
                f"{figures['prefill_s'] / reference['prefill_s']:>10.2f} "
                f"{figures['decode_tok_s'] / reference['decode_tok_s']:>9.2f} "
                f"{agreeing:>5}/{len(reference['tokens'])}"
            )
    print(
        "prefill x: prefill time / transformers' (lower is faster); "
        "decode x: decode tok/s / transformers' (higher is faster)"
    )
    for name, reason in skipped.items():
        print(f"{name}: {reason}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "skipped": skipped}, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
