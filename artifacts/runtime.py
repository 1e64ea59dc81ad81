"""The LLM runtime: loads a bundle with iree.runtime and generates tokens with a paged KV cache.

    runtime = load_bundle("bazel-bin/artifacts/smollm2_cpu")
    prompt = runtime.encode_chat([{"role": "user", "content": "What is the capital of France?"}])
    answer = runtime.decode(runtime.generate(prompt, max_new_tokens=64))

The bundle's VMFB holds the functions of sharktank's export_paged_llm_v1 protocol (traced by
export.programs), for batch size 1:

    prefill_bs1(tokens[1, L] i64, seq_lens[1] i64, seq_block_ids[1, L / stride] i64, cache[P, E])
        -> logits[1, L, vocab]
    decode_bs1(tokens[1, 1] i64, seq_lens[1] i64, start_positions[1] i64, seq_block_ids[1, B] i64,
               cache[P, E]) -> logits[1, 1, vocab]

and, when exported with --prefill-last-position (export.programs), prefill_last_bs1: prefill_bs1's
arguments, logits[1, 1, vocab] of the last position only.

With --prefill-from-position the module also has prefill_from_bs1(tokens[1, C], start_positions[1],
seq_lens[1], seq_block_ids[1, B], cache) -> logits[1, 1, vocab], a prefill that starts at a page
boundary over pages that already hold the earlier positions. Then the runtime keeps a prefix cache
(artifacts.prefix_cache): the full pages of every prompt stay cached until their space is needed,
and a later prompt that starts with the same tokens takes those pages and prefills only the rest
(at least its last two pages, the least prefill_from_bs1 computes).

`generate` prefills a prompt with the first of prefill_from_bs1 (from the cached prefix's end, or
from position 0: the same logits as prefill_last_bs1, measured equal, so a bundle needs only one of
the two), prefill_last_bs1, prefill_bs1 that the module has; `prefill_logits` always calls prefill_bs1.

Generation is step-wise underneath: `start_sequence` takes a sequence's KV-cache pages, prefills and
chooses the first token; each `RunningSequence.step()` decodes one more; `release()` frees the pages.
`generate` runs one sequence from start to end; a server interleaves the steps of several sequences
(each step is still one batch-size-1 dispatch: they take turns, they are not batched).

The weights are not in the VMFB: they are named parameters (scope "model") that an io_parameters
module serves from the bundle's IRPA file.

The KV cache is one device array of [pages, page_elements] that the functions update in place (the
argument is a mutable `!torch.tensor`). It is allocated once, when the bundle is loaded, and passed as
an iree.runtime DeviceArray, which the call uses without a copy. Measured on SmolLM2 (llvm-cpu,
local-task, 2 cores): passing a numpy array instead copies the whole cache in on every call and the
update is lost (the numpy array stays zero); with a 512-page (377 MB) cache a decode step took 1.02 s
with numpy against 0.24 s with the DeviceArray; with 16 pages both took 0.22 s.

Tokenization uses HF `tokenizers` on the bundle's tokenizer.json; `encode`/`decode` are the methods the
tensorized tokenizer (tokenizer.vmfb) will later sit behind.
"""

import mmap
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import iree.runtime
import numpy as np
import tokenizers

from artifacts import bundle, kv_cache, sampling
from artifacts.prefix_cache import PrefixCache
from artifacts.chat_template import render_model_chat
from artifacts.generation_json import GenerationConfig
from artifacts.model_config import ModelConfig
from tokenizer_model.tokenizer import CompiledTokenizer

# The parameter scope sharktank's export names the weights with (`#flow.parameter.named<"model"::...>`).
PARAMETER_SCOPE = "model"
BATCH_SIZE = 1
# How long a `local-task` worker thread spins for new work before it sleeps. A decode step is ~300
# small dispatches; with IREE's default (no spinning) a quarter of its CPU samples were the kernel
# putting workers to sleep and waking them (docs/performance.md, section 4). SmolLM2, 2 threads, five
# back-to-back pairs (no spinning -> 100 us): decode tok/s 54.6 -> 67.8, 47.4 -> 62.5, 51.5 -> 54.0,
# 64.9 -> 81.6, 56.1 -> 76.1. Process-wide: it applies to the first local-task device the process
# creates.
DEFAULT_TASK_WORKER_SPIN_US = 100
PREFILL_FUNCTION = f"prefill_bs{BATCH_SIZE}"
PREFILL_LAST_FUNCTION = f"prefill_last_bs{BATCH_SIZE}"
PREFILL_FROM_FUNCTION = f"prefill_from_bs{BATCH_SIZE}"
DECODE_FUNCTION = f"decode_bs{BATCH_SIZE}"


class LlmRuntime:
    """A loaded bundle: tokenizer, chat template, the compiled model and its KV cache on the device.

    Not thread-safe: one call at a time, from one thread. Several sequences (start_sequence) may hold
    KV-cache pages at once; their steps run one after another, each a batch-size-1 dispatch.
    """

    def __init__(
        self,
        bundle_dir: Path,
        manifest: bundle.BundleManifest,
        driver: str,
        cache_pages: Optional[int] = None,
        task_worker_spin_us: int = DEFAULT_TASK_WORKER_SPIN_US,
        prefix_cache: bool = True,
    ):
        self.bundle_dir = Path(bundle_dir)
        self.manifest = manifest
        self.driver = driver
        self.model_config = ModelConfig.load(self.bundle_dir / bundle.MODEL_CONFIG)
        self.generation = GenerationConfig.load(self.bundle_dir / bundle.GENERATION_JSON)
        # tokenizer.json (HF tokenizers) gives token texts (the chat template's special tokens); the
        # tensorized tokenizer, when the bundle has it, encodes and decodes, so that a bundle needs no
        # tokenizer library at run time.
        self.tokenizer = tokenizers.Tokenizer.from_file(str(self.bundle_dir / bundle.TOKENIZER_JSON))
        self.compiled_tokenizer: Optional[CompiledTokenizer] = None
        tokenizer_vmfb = self.bundle_dir / bundle.TOKENIZER_VMFB
        tokenizer_irpa = self.bundle_dir / bundle.TOKENIZER_IRPA
        if tokenizer_vmfb.exists() and tokenizer_irpa.exists():
            self.compiled_tokenizer = CompiledTokenizer.load(tokenizer_vmfb, tokenizer_irpa)
        batch_sizes = (self.model_config.prefill_batch_sizes, self.model_config.decode_batch_sizes)
        if any(BATCH_SIZE not in sizes for sizes in batch_sizes):
            raise bundle.BundleError(
                f"{self.bundle_dir / bundle.MODEL_CONFIG}: the model was exported without batch size {BATCH_SIZE} "
                f"(prefill {self.model_config.prefill_batch_sizes}, decode {self.model_config.decode_batch_sizes}). "
                f"Fix: export with --bs-prefill {BATCH_SIZE} --bs-decode {BATCH_SIZE} and "
                f"{manifest.rebuild_hint()}."
            )

        if driver == "local-task":
            iree.runtime.flags.parse_flags(f"--task_worker_spin_us={task_worker_spin_us}")
        self._config = iree.runtime.Config(driver)
        parameter_index = iree.runtime.ParameterIndex()
        parameter_index.load(str(self.bundle_dir / bundle.MODEL_IRPA))
        parameters_module = iree.runtime.create_io_parameters_module(
            self._config.vm_instance, parameter_index.create_provider(scope=PARAMETER_SCOPE)
        )
        # VmModule.mmap opens the file for writing, which fails on read-only files (Bazel's outputs
        # and runfiles), so the VMFB is mapped read-only here and wrapped without a copy: a VMFB
        # that embeds large constants (e.g. the token embedding of a bundle whose weights were
        # packed at build time) is then paged in only where it is read.
        with (self.bundle_dir / bundle.MODEL_VMFB).open("rb") as vmfb_file:
            vmfb_map = mmap.mmap(vmfb_file.fileno(), 0, access=mmap.ACCESS_READ)
        model_module = iree.runtime.VmModule.wrap_buffer(
            self._config.vm_instance, vmfb_map, close_buffer=True
        )
        missing = [name for name in (PREFILL_FUNCTION, DECODE_FUNCTION) if name not in model_module.function_names]
        if missing:
            raise bundle.BundleError(
                f"{self.bundle_dir / bundle.MODEL_VMFB}: module {model_module.name!r} has no {', '.join(missing)} "
                f"(it has {', '.join(model_module.function_names)}). Fix: {manifest.rebuild_hint()}."
            )
        self._context = iree.runtime.SystemContext(config=self._config)
        self._context.add_vm_modules([parameters_module, model_module])
        functions = self._context.modules[model_module.name]
        self._prefill = functions[PREFILL_FUNCTION]
        self._prefill_last = (
            functions[PREFILL_LAST_FUNCTION] if PREFILL_LAST_FUNCTION in model_module.function_names else None
        )
        self._decode = functions[DECODE_FUNCTION]
        self._prefill_from = (
            functions[PREFILL_FROM_FUNCTION] if PREFILL_FROM_FUNCTION in model_module.function_names else None
        )
        self._prefix_cache_enabled = prefix_cache and self._prefill_from is not None

        pool_pages = cache_pages if cache_pages is not None else kv_cache.default_pool_pages(self.model_config)
        # Without prefill_from_bs1 nothing is ever cached, and this is a plain page pool.
        self._pages = PrefixCache(kv_cache.PagePool(pool_pages), self.model_config.block_seq_stride)
        self._cache = iree.runtime.asdevicearray(
            self._config.device,
            np.zeros((pool_pages, self.model_config.page_elements), dtype=self.model_config.cache_dtype),
        )

    # --- capacity -------------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """The most positions (prompt + generated tokens) one sequence can hold."""
        return min(
            kv_cache.sequence_capacity(self.model_config, self._pages.page_count),
            self.generation.context_length,
        )

    @property
    def cache_pages(self) -> int:
        """KV-cache pages allocated on the device."""
        return self._pages.page_count

    @property
    def free_cache_pages(self) -> int:
        """KV-cache pages no running sequence holds (free, or caching a prefix nobody holds)."""
        return self._pages.available_pages

    @property
    def prefix_cache_enabled(self) -> bool:
        """Whether prompts reuse the pages of earlier prompts' prefixes (the module has
        prefill_from_bs1 and the runtime was loaded with prefix_cache=True)."""
        return self._prefix_cache_enabled

    @property
    def cached_prefix_pages(self) -> int:
        """KV-cache pages that hold a cached prompt prefix."""
        return self._pages.cached_pages

    @property
    def reused_prefix_pages(self) -> int:
        """Prompt pages taken from the prefix cache instead of prefilled, since the bundle was loaded."""
        return self._pages.reused_pages

    def clear_prefix_cache(self) -> None:
        """Forgets every cached prefix that no running sequence holds."""
        self._pages.clear()

    def _check_fits(self, prompt_length: int, max_new_tokens: int) -> None:
        total = prompt_length + max_new_tokens
        if total > self.capacity:
            raise kv_cache.CacheCapacityError(
                f"bundle {self.manifest.bundle_name!r} holds {self.capacity} positions per sequence "
                f"(context length {self.generation.context_length}, {self._pages.page_count} KV-cache pages of "
                f"{self.model_config.block_seq_stride} tokens), but the prompt has {prompt_length} tokens and "
                f"max_new_tokens is {max_new_tokens} ({total} in all). Shorten the prompt or lower max_new_tokens."
            )

    def _check_prompt(self, prompt_ids: Sequence[int]) -> list[int]:
        ids = [int(token) for token in prompt_ids]
        if not ids:
            raise ValueError("the prompt is empty; generation needs at least one token")
        vocabulary_size = self.tokenizer.get_vocab_size(with_added_tokens=True)
        out_of_range = [token for token in ids if not 0 <= token < vocabulary_size]
        if out_of_range:
            raise ValueError(f"token ids {out_of_range[:5]} are outside the vocabulary [0, {vocabulary_size})")
        return ids

    # --- tokenizer and chat template ------------------------------------------------------------------

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of `text`; with add_special_tokens, BOS first when the checkpoint asks for it."""
        if self.compiled_tokenizer is not None:
            ids = self.compiled_tokenizer.encode(text)
        else:
            ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        if add_special_tokens and self.generation.add_bos_token and self.generation.bos_token_id is not None:
            ids = [self.generation.bos_token_id] + ids
        return ids

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """The text of token ids."""
        ids = [int(token) for token in ids]
        if self.compiled_tokenizer is not None:
            return self.compiled_tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> str:
        """The prompt text for a conversation, rendered with the checkpoint's chat template."""
        return render_model_chat(
            self.generation, self.tokenizer.id_to_token, messages, add_generation_prompt=add_generation_prompt
        )

    def encode_chat(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of the chat prompt (the template writes any BOS itself, so none is added)."""
        return self.encode(self.apply_chat_template(messages, add_generation_prompt), add_special_tokens=False)

    # --- model ----------------------------------------------------------------------------------------

    def _as_logits(self, values: np.ndarray) -> np.ndarray:
        """float32 logits from the model output (undoing a softmax the export applied)."""
        values = np.asarray(values, dtype=np.float32)
        if self.model_config.logits_normalization == "softmax":
            return np.log(np.maximum(values, np.finfo(np.float32).tiny))
        return values

    def _run_prefill(self, ids: Sequence[int], pages: Sequence[int], last_only: bool = False) -> np.ndarray:
        """Runs prefill over `ids` into `pages`; returns the output for every position of `ids`, or
        with `last_only` (and a module that has prefill_last_bs1) for the last position only."""
        stride = self.model_config.block_seq_stride
        block_count = kv_cache.pages_for_positions(self.model_config, len(ids))
        tokens = np.zeros((BATCH_SIZE, block_count * stride), dtype=np.int64)
        tokens[0, : len(ids)] = ids
        seq_lens = np.array([len(ids)], dtype=np.int64)
        seq_block_ids = np.array([pages[:block_count]], dtype=np.int64)
        if last_only and self._prefill_last is not None:
            return self._prefill_last(tokens, seq_lens, seq_block_ids, self._cache).to_host()[0]
        return self._prefill(tokens, seq_lens, seq_block_ids, self._cache).to_host()[0, : len(ids)]

    def _run_prefill_from(self, ids: Sequence[int], pages: Sequence[int], start_pages: int) -> np.ndarray:
        """Prefills `ids` from page `start_pages` on (`pages[:start_pages]` already hold the earlier
        positions); returns the output row of the last position."""
        stride = self.model_config.block_seq_stride
        start = start_pages * stride
        chunk_pages = kv_cache.pages_for_positions(self.model_config, len(ids) - start)
        tokens = np.zeros((BATCH_SIZE, chunk_pages * stride), dtype=np.int64)
        tokens[0, : len(ids) - start] = ids[start:]
        output = self._prefill_from(
            tokens,
            np.array([start], dtype=np.int64),
            np.array([len(ids)], dtype=np.int64),
            np.array([pages[: start_pages + chunk_pages]], dtype=np.int64),
            self._cache,
        ).to_host()
        return output[0, -1]

    def _prefill_prompt(self, ids: list[int], max_new_tokens: int) -> tuple[list[int], np.ndarray]:
        """Takes a sequence's pages and prefills its prompt, from the prefix cache's pages on when it
        holds some; returns the pages and the output row of the prompt's last position."""
        reused: list[int] = []
        if self._prefix_cache_enabled:
            # prefill_from_bs1 computes at least MIN_PAGES_PER_SEQUENCE pages.
            prompt_pages = -(-len(ids) // self.model_config.block_seq_stride)
            reused = self._pages.lookup(ids, max_pages=prompt_pages - kv_cache.MIN_PAGES_PER_SEQUENCE)
        pages = reused
        try:
            pages = reused + self._pages.allocate(self.sequence_pages(len(ids), max_new_tokens) - len(reused))
            if self._prefill_from is not None:
                output = self._run_prefill_from(ids, pages, len(reused))
            else:
                output = self._run_prefill(ids, pages, last_only=True)[-1]
            if self._prefix_cache_enabled:
                self._pages.insert(ids, pages)
        except BaseException:
            self._pages.release(pages)
            raise
        return pages, output

    def _run_decode(self, token: int, position: int, pages: Sequence[int]) -> np.ndarray:
        """Runs one decode step of `token` at `position`; returns its logits row."""
        block_count = kv_cache.pages_for_positions(self.model_config, position + 1)
        logits = self._decode(
            np.array([[token]], dtype=np.int64),
            np.array([position + 1], dtype=np.int64),
            np.array([position], dtype=np.int64),
            np.array([pages[:block_count]], dtype=np.int64),
            self._cache,
        ).to_host()
        return logits[0, 0]

    def prefill_logits(self, prompt_ids: Sequence[int]) -> np.ndarray:
        """float32 logits [len(prompt_ids), vocab] of prefill (prefill_bs1) over `prompt_ids` (for tests)."""
        ids = self._check_prompt(prompt_ids)
        self._check_fits(len(ids), 0)
        pages = self._pages.allocate(kv_cache.pages_for_positions(self.model_config, len(ids)))
        try:
            return self._as_logits(self._run_prefill(ids, pages))
        finally:
            self._pages.release(pages)

    def sequence_pages(self, prompt_length: int, max_new_tokens: int) -> int:
        """KV-cache pages a sequence of `prompt_length` prompt tokens and up to `max_new_tokens` new
        ones holds while it runs (start_sequence takes them all at once)."""
        return kv_cache.pages_for_positions(self.model_config, prompt_length + max_new_tokens)

    def start_sequence(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        stop_token_ids: Optional[Iterable[int]] = None,
        seed: Optional[int] = None,
        temperature: float = 0.0,
        logits_processor: Optional[Callable[[Sequence[int], np.ndarray], np.ndarray]] = None,
    ) -> "RunningSequence":
        """Starts a sequence: takes its KV-cache pages, prefills the prompt and chooses the first token.

        The arguments mean what they mean for generate() (max_new_tokens must be at least 1). The
        returned sequence holds its pages until it is released; several sequences may run at once,
        each in its own pages, advanced one step() at a time from the thread that owns the runtime.
        Raises:
          CacheCapacityError: prompt + max_new_tokens exceed the bundle's capacity, or the pool has
            too few free pages now (sequence_pages() says how many it needs).
        """
        ids = self._check_prompt(prompt_ids)
        if max_new_tokens < 1:
            raise ValueError(f"a sequence generates at least one token, max_new_tokens is {max_new_tokens}")
        self._check_fits(len(ids), max_new_tokens)
        stop = set(self.generation.stop_token_ids if stop_token_ids is None else (int(t) for t in stop_token_ids))
        rng = np.random.default_rng(seed) if temperature > 0 else None
        pages, output = self._prefill_prompt(ids, max_new_tokens)
        sequence = RunningSequence(self, len(ids), max_new_tokens, stop, pages, temperature, rng, logits_processor)
        try:
            sequence._choose(output)
        except BaseException:
            sequence.release()
            raise
        return sequence

    def generate(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        stop_token_ids: Optional[Iterable[int]] = None,
        seed: Optional[int] = None,
        temperature: float = 0.0,
        on_token: Optional[Callable[[int], None]] = None,
        logits_processor: Optional[Callable[[Sequence[int], np.ndarray], np.ndarray]] = None,
        stop_when: Optional[Callable[[Sequence[int]], bool]] = None,
    ) -> list[int]:
        """Generates up to `max_new_tokens` tokens after `prompt_ids` (one sequence, start to end).

        Args:
          prompt_ids: the prompt's token ids.
          max_new_tokens: the most tokens to generate.
          stop_token_ids: generation ends after emitting one of these; default the bundle's
            generation.json stop tokens; pass [] to never stop early.
          seed: the seed of the sampler (only used when temperature > 0).
          temperature: 0 for greedy decoding (the default); > 0 samples from softmax(logits / T).
          on_token: called with each new token id as soon as it is chosen (streaming).
          logits_processor: constrained decoding: called before each token is chosen with the tokens
            generated so far and the float32 logits row [vocab]; the token is then chosen from the
            row it returns (e.g. the logits with -inf on disallowed tokens; at least one must stay
            finite). None (the default) chooses from the model's logits.
          stop_when: called after each token that did not already end generation (after on_token)
            with the tokens generated so far; True ends generation there, as a stop token would.
        Returns:
          The new token ids; when generation stopped at a stop token, that token is the last one.
        Raises:
          CacheCapacityError: prompt + max_new_tokens exceed the bundle's capacity.
        """
        ids = self._check_prompt(prompt_ids)
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if max_new_tokens == 0:
            return []
        with self.start_sequence(ids, max_new_tokens, stop_token_ids, seed, temperature, logits_processor) as sequence:
            while True:
                if on_token is not None:
                    on_token(sequence.tokens[-1])
                if sequence.finished or (stop_when is not None and stop_when(sequence.tokens)):
                    return list(sequence.tokens)
                sequence.step()


class RunningSequence:
    """One sequence in the runtime's KV cache: its pages, its sampler and the tokens chosen so far.

    Made by LlmRuntime.start_sequence, which prefills the prompt and chooses the first token; each
    step() runs one decode (batch size 1: one sequence per dispatch) and chooses the next token.
    release() returns the pages at once, finished or not; `with` releases them on the way out.
    """

    def __init__(
        self,
        runtime: LlmRuntime,
        prompt_length: int,
        max_new_tokens: int,
        stop_token_ids: set[int],
        pages: list[int],
        temperature: float,
        rng: Optional[np.random.Generator],
        logits_processor: Optional[Callable[[Sequence[int], np.ndarray], np.ndarray]],
    ):
        self._runtime = runtime
        self.prompt_length = prompt_length
        self.max_new_tokens = max_new_tokens
        self._stop_token_ids = stop_token_ids
        self._pages: Optional[list[int]] = pages
        self._temperature = temperature
        self._rng = rng
        self._logits_processor = logits_processor
        self.tokens: list[int] = []

    @property
    def stopped_at_stop_token(self) -> bool:
        """Whether the last token chosen is one of the sequence's stop tokens."""
        return bool(self.tokens) and self.tokens[-1] in self._stop_token_ids

    @property
    def finished(self) -> bool:
        """Whether generation is over: a stop token was chosen, or max_new_tokens were."""
        return self.stopped_at_stop_token or len(self.tokens) >= self.max_new_tokens

    @property
    def page_count(self) -> int:
        """KV-cache pages the sequence holds (0 once released)."""
        return len(self._pages or ())

    def _choose(self, output: np.ndarray) -> int:
        """Chooses the next token from the model's output row for the last position; returns it."""
        logits = self._runtime._as_logits(output)
        if self._logits_processor is not None:
            logits = self._logits_processor(self.tokens, logits)
        token = sampling.select_token(logits, self._temperature, self._rng)
        self.tokens.append(token)
        return token

    def step(self) -> int:
        """Decodes the last token and chooses the next one; returns it."""
        if self._pages is None:
            raise RuntimeError("the sequence was released; its KV-cache pages are gone")
        if self.finished:
            raise RuntimeError(f"the sequence is finished ({len(self.tokens)} tokens); nothing to step")
        position = self.prompt_length + len(self.tokens) - 1
        return self._choose(self._runtime._run_decode(self.tokens[-1], position, self._pages))

    def release(self) -> None:
        """Returns the sequence's KV-cache pages to the pool (again: nothing happens)."""
        if self._pages is not None:
            pages, self._pages = self._pages, None
            self._runtime._pages.release(pages)

    def __enter__(self) -> "RunningSequence":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def load_bundle(
    path: Path,
    driver: Optional[str] = None,
    verify: bool = True,
    cache_pages: Optional[int] = None,
    task_worker_spin_us: int = DEFAULT_TASK_WORKER_SPIN_US,
    prefix_cache: bool = True,
) -> LlmRuntime:
    """Loads a bundle directory.

    Args:
      path: the bundle directory (holding manifest.json).
      driver: the IREE runtime driver; default the one the manifest names (e.g. "local-task").
      verify: check every file's sha256 against the manifest first (reads the whole bundle once).
      cache_pages: KV-cache pages to allocate; default enough for one sequence of the model's full
        context (never more than the bundle's device_block_count).
      task_worker_spin_us: for the local-task driver, microseconds a worker thread spins for work
        before sleeping (0: IREE's default, sleep at once); see DEFAULT_TASK_WORKER_SPIN_US.
      prefix_cache: reuse the KV-cache pages of earlier prompts' prefixes, when the bundle's module
        has prefill_from_bs1 (see the module docstring).
    """
    path = Path(path)
    if verify:
        manifest = bundle.verify_bundle(path, required_files=bundle.RUNTIME_FILES)
    else:
        manifest = bundle.read_manifest(path)
        for name in bundle.RUNTIME_FILES:
            if not (path / name).is_file():
                raise bundle.BundleError(f"{path / name}: bundle file is missing. Fix: {manifest.rebuild_hint()}.")
    return LlmRuntime(
        path,
        manifest,
        driver=driver or manifest.driver,
        cache_pages=cache_pages,
        task_worker_spin_us=task_worker_spin_us,
        prefix_cache=prefix_cache,
    )
