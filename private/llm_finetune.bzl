"""`llm_finetune`: a base GGUF + training pairs -> a fine-tuned GGUF (LoRA adapters, merged)."""

def _finetune_resources(_os, _inputs_size):
    # SmolLM2-135M at 1536 tokens: about 3 GB peak; torch uses the threads it is given.
    return {"cpu": 2, "memory": 3072}

def _llm_finetune_impl(ctx):
    checkpoint = ctx.actions.declare_file(ctx.label.name + ".gguf")
    loss_curve = ctx.actions.declare_file(ctx.label.name + ".loss.json")
    args = ctx.actions.args()
    args.add("--base", ctx.file.base)
    args.add("--data", ctx.file.data)
    args.add("--output", checkpoint)
    args.add("--loss-curve", loss_curve)
    args.add("--context-length", str(ctx.attr.context_length))
    args.add("--max-new-tokens", str(ctx.attr.max_new_tokens))
    args.add("--max-sequence-length", str(ctx.attr.max_sequence_length))
    args.add("--steps", str(ctx.attr.steps))
    args.add("--learning-rate", ctx.attr.learning_rate)
    args.add("--rank", str(ctx.attr.rank))
    args.add("--alpha", ctx.attr.alpha)
    args.add("--batch-size", str(ctx.attr.batch_size))
    args.add("--seed", str(ctx.attr.seed))
    args.add("--threads", str(ctx.attr.threads))
    args.add("--merged-type", ctx.attr.merged_type)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = [ctx.file.base, ctx.file.data],
        outputs = [checkpoint, loss_curve],
        mnemonic = "LlmFinetune",
        progress_message = "Fine-tuning %{label} (LoRA)",
        resource_set = _finetune_resources,
    )
    return [
        DefaultInfo(files = depset([checkpoint])),
        OutputGroupInfo(loss_curve = depset([loss_curve])),
    ]

llm_finetune = rule(
    implementation = _llm_finetune_impl,
    doc = """Fine-tunes a Llama GGUF on training pairs (`llm_training_data`) with LoRA on the CPU and
writes `<name>.gguf`: the base file with the adapters merged into its matrices (stored as
`merged_type`), which `llm_artifacts(checkpoint = [":name"])` exports like any checkpoint. Each pair
is rendered as the prompt `llm_transform` sends, with the model's chat template, and the loss is
taken on the answer. Output group `loss_curve`: the loss of every step. Deterministic: the same
inputs, seed and thread count give the same bytes.""",
    attrs = {
        "base": attr.label(allow_single_file = [".gguf"], mandatory = True, doc = "The base model, a Llama GGUF."),
        "data": attr.label(allow_single_file = [".jsonl"], mandatory = True, doc = "Training pairs (JSON lines)."),
        "context_length": attr.int(
            mandatory = True,
            doc = "The context length of the bundle the model is exported to: prompts are built for " +
                  "its budget, as llm_transform builds them.",
        ),
        "max_new_tokens": attr.int(
            default = 512,
            doc = "The answer limit the model is used with (llm_transform's max_new_tokens): it sets " +
                  "the prompt budget, and longer answers are left out.",
        ),
        "max_sequence_length": attr.int(default = 1536, doc = "Pairs longer than this (tokens) are left out."),
        "steps": attr.int(default = 200, doc = "Optimizer steps."),
        "learning_rate": attr.string(default = "2e-4", doc = "AdamW's peak learning rate."),
        "rank": attr.int(default = 16, doc = "LoRA rank."),
        "alpha": attr.string(default = "32", doc = "LoRA alpha (the update is scaled by alpha / rank)."),
        "batch_size": attr.int(default = 1, doc = "Pairs per step."),
        "seed": attr.int(default = 0, doc = "Seeds the adapters' initial values and the data order."),
        "threads": attr.int(default = 2, doc = "torch threads (the bytes are reproducible for a fixed count)."),
        "merged_type": attr.string(
            default = "Q8_0",
            values = ["Q8_0", "F16", "F32"],
            doc = "GGUF type of the changed matrices; Q8_0 keeps the bundle's block-quantized decode kernels.",
        ),
        "_tool": attr.label(default = "//finetune:finetune_tool", executable = True, cfg = "exec"),
    },
)
