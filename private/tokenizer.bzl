"""The tokenizer action: tokenizer source -> tokenizer.mlir + tokenizer.irpa."""

LlmTokenizerInfo = provider(
    doc = "A tensorized tokenizer: its MLIR module (compile it with iree_vmfb) and its tables.",
    fields = {
        "mlir": "File: the tokenizer module; the same text for every vocabulary of one algorithm.",
        "irpa": "File: the vocabulary's tables, loaded by tokenizer_model.tokenizer.CompiledTokenizer.",
        "source": "File: the tokenizer.json, .gguf or SentencePiece .model it was built from.",
    },
)

def tokenizer_action(ctx, source, mlir, irpa):
    """Registers the action that runs //tokenizer_model:build.

    Args:
      ctx: the rule context (its attributes include TOKENIZER_ATTRS' `_builder`).
      source: the File the tokenizer is read from (tokenizer.json or a .gguf).
      mlir: the declared output File for the tokenizer's MLIR.
      irpa: the declared output File for its tables.

    Returns:
      An LlmTokenizerInfo of the two outputs.
    """
    args = ctx.actions.args()
    args.add("--source", source)
    args.add("--output-mlir", mlir)
    args.add("--output-irpa", irpa)
    ctx.actions.run(
        executable = ctx.executable._builder,
        arguments = [args],
        inputs = [source],
        outputs = [mlir, irpa],
        mnemonic = "TokenizerTables",
        progress_message = "Building tokenizer tables and module for %{label}",
    )
    return LlmTokenizerInfo(mlir = mlir, irpa = irpa, source = source)

TOKENIZER_ATTRS = {
    "source": attr.label(
        doc = "The tokenizer: a Hugging Face tokenizer.json (byte-level BPE), a .gguf file " +
              "(tokenizer.ggml.model = gpt2) or a SentencePiece BPE .model file.",
        allow_single_file = [".json", ".gguf", ".model"],
        mandatory = True,
    ),
    "_builder": attr.label(
        default = "//tokenizer_model:build",
        executable = True,
        cfg = "exec",
    ),
}

def _llm_tokenizer_impl(ctx):
    info = tokenizer_action(
        ctx,
        source = ctx.file.source,
        mlir = ctx.actions.declare_file(ctx.label.name + "/tokenizer.mlir"),
        irpa = ctx.actions.declare_file(ctx.label.name + "/tokenizer.irpa"),
    )
    return [
        DefaultInfo(files = depset([info.mlir, info.irpa])),
        info,
    ]

llm_tokenizer = rule(
    implementation = _llm_tokenizer_impl,
    doc = "Builds `<name>/tokenizer.mlir` and `<name>/tokenizer.irpa` from a tokenizer file. " +
          "Compile the MLIR per target with iree_vmfb (//toolchains:defs.bzl).",
    attrs = TOKENIZER_ATTRS,
)
