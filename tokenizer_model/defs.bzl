"""Public API of the tokenizer_model package: `llm_tokenizer` and its provider."""

load("//private:tokenizer.bzl", _LlmTokenizerInfo = "LlmTokenizerInfo", _llm_tokenizer = "llm_tokenizer")

LlmTokenizerInfo = _LlmTokenizerInfo
llm_tokenizer = _llm_tokenizer
