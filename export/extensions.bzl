"""Module extension `checkpoints`: model checkpoints as repositories.

    checkpoints = use_extension("@rules_iree_llm//export:extensions.bzl", "checkpoints")
    checkpoints.huggingface(
        name = "my_model",
        repo_id = "Org/Model",
        revision = "<commit>",
        files = {"config.json": "<sha256>", "model.safetensors": "<sha256>", "tokenizer.json": "<sha256>"},
        local_dir_variable = "MY_MODEL_DIR",
    )
    use_repo(checkpoints, "my_model")

`@my_model//:checkpoint` is then the checkpoint's files, for `llm_artifacts(checkpoint = ...)`, and
`@my_model//:pins` its checkpoint_pins.json (the commit and every file's sha256; none for a local copy).

A tag whose sha256 values are not known yet (empty strings) is downloaded only when asked for, with
`allow_unpinned = True` or `--repo_env=RULES_IREE_LLM_ALLOW_UNPINNED=1`: the revision may then be a
branch, and the commit and the sha256 of every file are printed as the tag to paste here.
"""

load("//private:huggingface_checkpoint.bzl", "huggingface_checkpoint")

_huggingface = tag_class(
    doc = "A Hugging Face checkpoint, downloaded with sha256 checks (or, with allow_unpinned, " +
          "unpinned and its pins printed) or taken from a local directory.",
    attrs = {
        "name": attr.string(mandatory = True),
        "repo_id": attr.string(mandatory = True),
        "revision": attr.string(mandatory = True),
        "files": attr.string_dict(mandatory = True),
        "allow_unpinned": attr.bool(),
        "local_dir": attr.string(),
        "local_dir_variable": attr.string(default = "RULES_IREE_LLM_CHECKPOINT_DIR"),
    },
)

def _checkpoints_impl(module_ctx):
    for module in module_ctx.modules:
        for tag in module.tags.huggingface:
            huggingface_checkpoint(
                name = tag.name,
                repo_id = tag.repo_id,
                revision = tag.revision,
                files = tag.files,
                allow_unpinned = tag.allow_unpinned,
                local_dir = tag.local_dir,
                local_dir_variable = tag.local_dir_variable,
            )

checkpoints = module_extension(
    implementation = _checkpoints_impl,
    doc = "Model checkpoints as repositories (see huggingface_checkpoint).",
    tag_classes = {"huggingface": _huggingface},
)
