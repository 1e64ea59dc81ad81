"""How the embedded model is exported and compiled for the CPU: one home for the options that
`//artifacts:smollm2_cpu`, the specialist `//artifacts:smollm2_mlir_cpu` and the fine-tune's tiny
CI model (`//finetune:tiny_finetuned_cpu`) share. The reasons for each flag are beside
`smollm2_cpu` in artifacts/BUILD.bazel."""

load("//artifacts:defs.bzl", "llm_artifacts")

SMOLLM2_CONTEXT_LENGTH = 2048

def smollm2_cpu_artifacts(name, checkpoint, **kwargs):
    """An `llm_artifacts` bundle of a SmolLM2-architecture checkpoint with the embedded model's CPU options.

    Args:
      name: the bundle's name.
      checkpoint: the GGUF (a file or an `llm_finetune` target).
      **kwargs: further `llm_artifacts` attributes (tags, testonly, visibility).
    """
    llm_artifacts(
        name = name,
        checkpoint = checkpoint,
        compile_flags = [
            "--iree-opt-data-tiling",
            "--iree-llvmcpu-enable-ukernels=all",
        ],
        context_length = SMOLLM2_CONTEXT_LENGTH,
        export_flags = [
            "--weight-dtype=float16",
            "--fuse-qkv",
            "--fuse-gate-up",
            "--half-split-rope",
            "--prefill-from-position",
            "--block-quantized-decode",
        ],
        prepack_weights = True,
        target = "llvm-cpu",
        **kwargs
    )
