"""The export action: checkpoint -> model.mlir + model.irpa + model_config.json."""

load(":targets.bzl", "IREE_TARGETS", "check_export_flags", "iree_target")

LlmExportInfo = provider(
    doc = "A model exported by sharktank: MLIR, weights and config.",
    fields = {
        "mlir": "File: the exported MLIR (prefill and decode functions, paged KV cache).",
        "irpa": "File: the weights, parameter scope \"model\".",
        "config": "File: model_config.json (sharktank's service config).",
        "checkpoint": "depset of File: the checkpoint it was exported from.",
        "target": "string: the IREE target the export was made for.",
    },
)

# The exec group of the export action (sharktank: CPU and ~2 GB of memory, no GPU). A rule that
# exports declares it with `exec_groups = EXPORT_EXEC_GROUPS`; a target routes its export under
# remote execution with `exec_properties = {"export.KEY": "VALUE"}` (docs/remote.md).
EXPORT_EXEC_GROUP = "export"

EXPORT_EXEC_GROUPS = {
    EXPORT_EXEC_GROUP: exec_group(),
}

EXPORT_ATTRS = {
    "checkpoint": attr.label_list(
        doc = "The checkpoint: one .gguf file, or a Hugging Face directory's config.json and " +
              "*.safetensors files (with model.safetensors.index.json when sharded).",
        allow_files = [".gguf", ".json", ".safetensors"],
        mandatory = True,
    ),
    "target": attr.string(
        doc = "The IREE target (a key of IREE_TARGETS, private/targets.bzl); it may add export options.",
        default = "llvm-cpu",
        values = sorted(IREE_TARGETS.keys()),
    ),
    "context_length": attr.int(
        doc = "The longest sequence (prompt + generated tokens) the model serves; 0 takes the checkpoint's.",
        default = 0,
    ),
    "prefill_batch_sizes": attr.int_list(default = [1]),
    "decode_batch_sizes": attr.int_list(default = [1]),
    "export_flags": attr.string_list(
        doc = "Further flags for export/export_llm.py, after the target's own.",
    ),
    "_exporter": attr.label(
        default = "//export:export_llm",
        executable = True,
        cfg = config.exec(EXPORT_EXEC_GROUP),
    ),
}

def checkpoint_path(files):
    """The path export_llm.py takes for a checkpoint's files.

    Args:
      files: the checkpoint's files: one .gguf, or config.json with its *.safetensors files.

    Returns:
      The .gguf file's path, or the directory holding config.json.
    """
    ggufs = [f for f in files if f.extension == "gguf"]
    if len(ggufs) == 1 and len(files) == 1:
        return ggufs[0].path
    configs = [f for f in files if f.basename == "config.json"]
    if len(ggufs) == 0 and len(configs) == 1:
        return configs[0].dirname
    fail("checkpoint must be one .gguf file, or one config.json with its *.safetensors files; got: " +
         ", ".join([f.short_path for f in files]))

def _export_resources(_os, _inputs_size):
    # Measured on SmolLM2-135M: 1.7 GB peak RSS; torch uses every core it is given.
    return {"cpu": 2, "memory": 2048}

def export_llm_action(ctx, mlir, irpa, config):
    """Registers the export action of a rule that has EXPORT_ATTRS.

    Args:
      ctx: the rule context (its attributes are EXPORT_ATTRS).
      mlir: the declared output File for the exported MLIR.
      irpa: the declared output File for the weights.
      config: the declared output File for model_config.json.

    Returns:
      An LlmExportInfo of the three outputs.
    """
    target = iree_target(ctx.attr.target)
    check_export_flags(ctx.attr.target, ctx.attr.export_flags)
    args = ctx.actions.args()
    args.add("--checkpoint", checkpoint_path(ctx.files.checkpoint))
    args.add("--output-mlir", mlir)
    args.add("--output-irpa", irpa)
    args.add("--output-config", config)
    args.add_joined("--bs-prefill", ctx.attr.prefill_batch_sizes, join_with = ",")
    args.add_joined("--bs-decode", ctx.attr.decode_batch_sizes, join_with = ",")
    if ctx.attr.context_length:
        args.add("--context-length", str(ctx.attr.context_length))
    args.add_all(target.export_flags)
    args.add_all(ctx.attr.export_flags)
    ctx.actions.run(
        executable = ctx.executable._exporter,
        arguments = [args],
        inputs = ctx.files.checkpoint,
        outputs = [mlir, irpa, config],
        mnemonic = "LlmExport",
        exec_group = EXPORT_EXEC_GROUP,
        progress_message = "Exporting %{label} to MLIR and IRPA",
        resource_set = _export_resources,
    )
    return LlmExportInfo(
        mlir = mlir,
        irpa = irpa,
        config = config,
        checkpoint = depset(ctx.files.checkpoint),
        target = ctx.attr.target,
    )

def _llm_export_impl(ctx):
    info = export_llm_action(
        ctx,
        mlir = ctx.actions.declare_file(ctx.label.name + "/model.mlir"),
        irpa = ctx.actions.declare_file(ctx.label.name + "/model.irpa"),
        config = ctx.actions.declare_file(ctx.label.name + "/model_config.json"),
    )
    return [
        DefaultInfo(files = depset([info.mlir, info.irpa, info.config])),
        info,
    ]

llm_export = rule(
    implementation = _llm_export_impl,
    doc = "Exports a checkpoint to `<name>/model.mlir`, `<name>/model.irpa` and `<name>/model_config.json`.",
    attrs = EXPORT_ATTRS,
    exec_groups = EXPORT_EXEC_GROUPS,
)
