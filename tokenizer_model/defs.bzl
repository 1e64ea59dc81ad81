"""Public API of the tokenizer_model package: `llm_tokenizer` and its provider."""

load("//tokenizer_model/private:tokenizer.bzl", _LlmTokenizerInfo = "LlmTokenizerInfo", _llm_tokenizer = "llm_tokenizer", _tokenizer_action = "tokenizer_action", _TOKENIZER_ATTRS = "TOKENIZER_ATTRS")

LlmTokenizerInfo = _LlmTokenizerInfo
TOKENIZER_ATTRS = _TOKENIZER_ATTRS
llm_tokenizer = _llm_tokenizer
tokenizer_action = _tokenizer_action
