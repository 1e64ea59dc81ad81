"""Public API of the pass library: the `llm_transform` rule, and `llm_training_data` for the specialist."""

load("//private:llm_training_data.bzl", _llm_training_data = "llm_training_data")
load("//private:llm_transform.bzl", _llm_transform = "llm_transform")

llm_training_data = _llm_training_data
llm_transform = _llm_transform
