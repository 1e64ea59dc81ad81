"""`llm_artifacts`: one bundle directory per model and IREE target, behind `LlmArtifactInfo`."""

load(":checkpoint_pins.bzl", "checkpoint_pins_json")
load(":export.bzl", "EXPORT_ATTRS", "EXPORT_EXEC_GROUPS", "checkpoint_path", "export_llm_action")
load(":iree_vmfb.bzl", "IREE_COMPILE_EXEC_GROUP", "IREE_COMPILE_EXEC_GROUPS", "compile_toolchain", "compile_vmfb", "packed_parameters")
load(":targets.bzl", "iree_target")
load(":tokenizer.bzl", "TOKENIZER_ATTRS", "tokenizer_action")

# The parameter scope of the exported model (sharktank's export; artifacts/runtime.py loads it).
_MODEL_PARAMETER_SCOPE = "model"

def _tokenizer_source(checkpoint_files):
    """The file the tensorized tokenizer is built from: the GGUF, or the HF tokenizer.json."""
    for file in checkpoint_files:
        if file.extension == "gguf":
            return file
    for file in checkpoint_files:
        if file.basename == "tokenizer.json":
            return file
    fail("the checkpoint has no tokenizer: add the directory's tokenizer.json to `checkpoint`")

LlmArtifactInfo = provider(
    doc = "A model bundle: everything needed to run one model ahead of time on one IREE target.",
    fields = {
        "name": "string: the bundle's name.",
        "target": "string: the IREE target (a key of IREE_TARGETS).",
        "device": "string: the IREE runtime driver that runs the bundle.",
        "manifest": "File: manifest.json; its directory is the bundle directory.",
        "vmfb": "File: model.vmfb.",
        "irpa": "File: model.irpa.",
        "config": "File: model_config.json.",
        "tokenizer": "File: tokenizer.json (the HF tokenizers form of the model's tokenizer).",
        "tokenizer_vmfb": "File: tokenizer.vmfb, the tensorized tokenizer compiled for the host CPU.",
        "tokenizer_irpa": "File: tokenizer.irpa, the tokenizer's tables.",
        "generation": "File: generation.json (special tokens, chat template, context length).",
        "files": "depset of File: every file of the bundle, the manifest included.",
    },
)

def _llm_artifacts_impl(ctx):
    bundle = ctx.label.name + "/"
    export_directory = ctx.label.name + "_export/"
    model_irpa = ctx.actions.declare_file(bundle + "model.irpa")
    export = export_llm_action(
        ctx,
        mlir = ctx.actions.declare_file(export_directory + "model.mlir"),
        irpa = ctx.actions.declare_file(export_directory + "model.irpa") if ctx.attr.prepack_weights else model_irpa,
        config = ctx.actions.declare_file(bundle + "model_config.json"),
    )
    vmfb = ctx.actions.declare_file(bundle + "model.vmfb")
    packed = ctx.actions.declare_file(export_directory + "model_packed.irpa") if ctx.attr.prepack_weights else None
    target = compile_vmfb(
        ctx,
        export.mlir,
        vmfb,
        ctx.attr.target,
        ctx.attr.compile_flags,
        parameters = packed_parameters(export.irpa, packed, _MODEL_PARAMETER_SCOPE) if packed else None,
    )
    if packed:
        args = ctx.actions.args()
        args.add("--input", packed)
        args.add("--output", model_irpa)
        ctx.actions.run(
            executable = ctx.executable._share_parameter_storage,
            arguments = [args],
            inputs = [packed],
            outputs = [model_irpa],
            mnemonic = "IrpaShareStorage",
            progress_message = "Sharing the storage of identical packed weights of %{label}",
        )

    tokenizer = ctx.actions.declare_file(bundle + "tokenizer.json")
    generation = ctx.actions.declare_file(bundle + "generation.json")
    source = checkpoint_path(ctx.files.checkpoint)
    args = ctx.actions.args()
    args.add("--gguf" if source.endswith(".gguf") else "--hf-dir", source)
    args.add("--output-tokenizer", tokenizer)
    args.add("--output-generation", generation)
    ctx.actions.run(
        executable = ctx.executable._generation_config_tool,
        arguments = [args],
        inputs = ctx.files.checkpoint,
        outputs = [tokenizer, generation],
        mnemonic = "LlmGenerationConfig",
        progress_message = "Extracting the tokenizer and generation settings of %{label}",
    )

    tokenizer_tables = tokenizer_action(
        ctx,
        source = _tokenizer_source(ctx.files.checkpoint),
        mlir = ctx.actions.declare_file(ctx.label.name + "_export/tokenizer.mlir"),
        irpa = ctx.actions.declare_file(bundle + "tokenizer.irpa"),
    )
    tokenizer_vmfb = ctx.actions.declare_file(bundle + "tokenizer.vmfb")
    compile_vmfb(ctx, tokenizer_tables.mlir, tokenizer_vmfb, iree_target(ctx.attr.target).tokenizer_target)

    bundle_files = [
        vmfb,
        model_irpa,
        export.config,
        tokenizer,
        tokenizer_vmfb,
        tokenizer_tables.irpa,
        generation,
    ]
    manifest = ctx.actions.declare_file(bundle + "manifest.json")
    args = ctx.actions.args()
    args.add("write")
    args.add("--output", manifest)
    args.add("--bundle-name", ctx.label.name)
    args.add("--build-label", str(ctx.label))
    args.add("--target", ctx.attr.target)
    args.add("--driver", target.device)
    args.add("--source-file", source)

    # Where a downloaded checkpoint came from (huggingface_checkpoint's pins; none for a local copy):
    # passed as text, since the pins file would sit in the checkpoint directory that --source-file hashes.
    pins = checkpoint_pins_json(ctx.attr.checkpoint)
    if pins != None:
        args.add("--source-pins", pins)
    for file in bundle_files:
        args.add("--file", "{}={}".format(file.basename, file.path))

    # The compiler that compiled the VMFBs records its own version (the toolchain's, not whatever
    # iree-compiler package the manifest tool's interpreter has).
    compiler = compile_toolchain(ctx).compiler
    args.add("--compiler", compiler.executable)
    ctx.actions.run(
        executable = ctx.executable._bundle_tool,
        arguments = [args],
        inputs = bundle_files + ctx.files.checkpoint,
        tools = [compiler],
        outputs = [manifest],
        exec_group = IREE_COMPILE_EXEC_GROUP,
        mnemonic = "LlmBundleManifest",
        progress_message = "Writing the manifest of %{label}",
    )

    files = depset(bundle_files + [manifest])
    return [
        DefaultInfo(files = files, runfiles = ctx.runfiles(transitive_files = files)),
        LlmArtifactInfo(
            name = ctx.label.name,
            target = ctx.attr.target,
            device = target.device,
            manifest = manifest,
            vmfb = vmfb,
            irpa = model_irpa,
            config = export.config,
            tokenizer = tokenizer,
            tokenizer_vmfb = tokenizer_vmfb,
            tokenizer_irpa = tokenizer_tables.irpa,
            generation = generation,
            files = files,
        ),
        export,
        # The exported MLIR, for tools that compile it again with other flags (e.g. a profiling build,
        # artifacts/profile_dispatches.py): `filegroup(srcs = [BUNDLE], output_group = "model_mlir")`.
        OutputGroupInfo(model_mlir = depset([export.mlir])),
    ]

llm_artifacts = rule(
    implementation = _llm_artifacts_impl,
    doc = """Builds the bundle `<name>/` for one checkpoint and one IREE target.

The bundle holds model.vmfb, model.irpa, model_config.json, tokenizer.json, tokenizer.vmfb and
tokenizer.irpa (the tensorized tokenizer, compiled for the host CPU), generation.json and
manifest.json (the sha256 of every file, the target, the toolchain versions and the source
checkpoint, with the commit and file sha256 it was downloaded by when its repository has them).
Each step is its own cached action: export, compile, tokenizer extraction, manifest.

With `prepack_weights = True`, iree-compile also imports the exported weights and evaluates their
data-tiling packs at build time; the bundle's model.irpa then holds the packed weights (identical
entries sharing storage, toolchains/share_parameter_storage.py), so loading packs nothing and a
running model holds one copy of its weights (docs/performance.md, section 6).

Under remote execution the export runs in the exec group `export` and both iree-compile actions in
`compile`, so that `exec_properties = {"export.KEY": "V", "compile.KEY": "V"}` route them apart
(docs/remote.md).
""",
    attrs = dict(EXPORT_ATTRS, _builder = TOKENIZER_ATTRS["_builder"], **{
        "compile_flags": attr.string_list(
            doc = "Further iree-compile flags, after the target's own.",
        ),
        "prepack_weights": attr.bool(
            doc = "Pack the weights into the compiled model's layouts at build time (with data " +
                  "tiling: one copy of each weight in memory instead of three, no packing at load).",
        ),
        "_share_parameter_storage": attr.label(
            default = "//toolchains:share_parameter_storage",
            executable = True,
            cfg = "exec",
        ),
        "_generation_config_tool": attr.label(
            default = "//artifacts:generation_config_tool",
            executable = True,
            cfg = "exec",
        ),
        "_bundle_tool": attr.label(
            default = "//artifacts:bundle_tool",
            executable = True,
            cfg = "exec",
        ),
    }),
    exec_groups = dict(EXPORT_EXEC_GROUPS, **IREE_COMPILE_EXEC_GROUPS),
)
