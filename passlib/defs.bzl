"""Public API of the pass library: the `llm_transform` rule."""

load("//passlib/private:llm_transform.bzl", _llm_transform = "llm_transform")

llm_transform = _llm_transform
