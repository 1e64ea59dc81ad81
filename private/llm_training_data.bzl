"""`llm_training_data`: MLIR pairs labelled by the search, the specialist's training data."""

def _training_data_resources(_os, _inputs_size):
    return {"cpu": 2, "memory": 2048}

def _llm_training_data_impl(ctx):
    pairs = ctx.actions.declare_file(ctx.label.name + ".jsonl")
    summary = ctx.actions.declare_file(ctx.label.name + ".summary.json")
    args = ctx.actions.args()
    args.add("--output", pairs)
    args.add("--summary", summary)
    args.add("--seed", str(ctx.attr.seed))
    args.add("--programs", str(ctx.attr.programs))
    args.add("--small-programs", str(ctx.attr.small_programs))
    args.add("--torch-modules", str(ctx.attr.torch_modules))
    args.add("--search-budget", str(ctx.attr.search_budget))
    args.add("--cost", ctx.attr.cost)
    args.add("--jobs", str(ctx.attr.jobs))
    task_sets = [f.dirname for f in ctx.files.exclude_task_sets if f.basename == "tasks.json"]
    if not task_sets:
        fail("exclude_task_sets holds no tasks.json: name the evaluation task sets the data must stay apart from")
    args.add_all(task_sets, before_each = "--exclude-tasks")
    ctx.actions.run(
        executable = ctx.executable._generator,
        arguments = [args],
        inputs = ctx.files.exclude_task_sets,
        outputs = [pairs, summary],
        mnemonic = "LlmTrainingData",
        progress_message = "Generating and labelling MLIR training pairs for %{label}",
        resource_set = _training_data_resources,
    )
    return [
        DefaultInfo(files = depset([pairs])),
        OutputGroupInfo(summary = depset([summary])),
    ]

llm_training_data = rule(
    implementation = _llm_training_data_impl,
    doc = """Generates MLIR modules and labels them with passlib's search: `<name>.jsonl` holds the
verified (module -> best pipeline) and (function -> rewritten function) pairs that `llm_finetune`
trains on; output group `summary` counts them per generator and mode.

Modules come from a random program generator (arith/math/scf/tensor/linalg; large programs and, with
`small_programs`, one-function ones of a few operations) and randomly configured
torch modules exported with iree-turbine; any whose functions are near-duplicates of an evaluation
input (`exclude_task_sets`) is dropped. The same attributes give the same bytes.""",
    attrs = {
        "seed": attr.int(default = 1, doc = "Seeds both generators."),
        "programs": attr.int(default = 200, doc = "Random programs to generate."),
        "small_programs": attr.int(
            default = 0,
            doc = "Small random programs to generate: one function of 2 to 10 operations (about 4 to 20 with helpers and nesting), most with " +
                  "redundancy, the size of the simple transformations users ask for.",
        ),
        "torch_modules": attr.int(
            default = 40,
            doc = "Random torch modules to export (each a torch- and a linalg-level candidate).",
        ),
        "search_budget": attr.int(default = 200, doc = "Pass-manager runs the search spends per unit."),
        "cost": attr.string(default = "ops", values = ["ops", "dispatches"], doc = "What the search minimizes."),
        "jobs": attr.int(default = 2, doc = "Candidates labelled in parallel processes."),
        "exclude_task_sets": attr.label_list(
            allow_files = True,
            default = ["//passlib:evaluation_task_sets"],
            doc = "The evaluation task sets (directories with tasks.json) the data must hold nothing of.",
        ),
        "_generator": attr.label(
            default = "//passlib/training_data:generate_tool",
            executable = True,
            cfg = "exec",
        ),
    },
)
