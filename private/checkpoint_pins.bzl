"""The pins of a downloaded checkpoint (repo id, commit, sha256 of each file), carried beside its files.

A `huggingface_checkpoint` repository that downloaded its files makes `:checkpoint` a
`checkpoint_with_pins` target: the checkpoint's files exactly as a filegroup would give them (so the
export, the tokenizer and the source digest see the same files as before), plus `CheckpointPinsInfo`
holding the text of the repository's checkpoint_pins.json. `llm_artifacts` records those pins in the
bundle's manifest. The pins file itself is not among the files: it would be hashed into the source
digest, and a GGUF checkpoint must be exactly one file.
"""

CheckpointPinsInfo = provider(
    doc = "Where a downloaded checkpoint came from, as the repository recorded it.",
    fields = {
        "json": "string: the text of checkpoint_pins.json ({\"repo_id\", \"revision\" (the commit), " +
                "\"requested_revision\", \"files\": {name: sha256}, \"pinned\"}).",
    },
)

def _checkpoint_with_pins_impl(ctx):
    return [
        DefaultInfo(
            files = depset(ctx.files.srcs),
            runfiles = ctx.runfiles(files = ctx.files.srcs),
        ),
        CheckpointPinsInfo(json = ctx.attr.pins),
    ]

checkpoint_with_pins = rule(
    implementation = _checkpoint_with_pins_impl,
    doc = "A checkpoint's files (like a filegroup) with the pins they were downloaded by.",
    attrs = {
        "srcs": attr.label_list(allow_files = True, doc = "The checkpoint's files."),
        "pins": attr.string(mandatory = True, doc = "The text of checkpoint_pins.json."),
    },
)

def checkpoint_pins_json(checkpoint_targets):
    """The pins of a checkpoint attribute's targets.

    Args:
      checkpoint_targets: the targets of a `checkpoint` label list (e.g. `ctx.attr.checkpoint`).

    Returns:
      The checkpoint_pins.json text of the first target that carries CheckpointPinsInfo, or None.
    """
    for target in checkpoint_targets:
        if CheckpointPinsInfo in target:
            return target[CheckpointPinsInfo].json
    return None
