"""`llm_transform`: an LLM-assisted transformation of MLIR that other rules generate."""

load(":llm_artifacts.bzl", "LlmArtifactInfo")

_BACKENDS = ["auto", "iree", "ollama", "openai"]
_MODES = ["rewrite", "schedule", "search"]
_COSTS = ["ops", "dispatches"]

def _add_backend(ctx, args, inputs):
    """Adds the LLM backend's flags (and a bundle's files to `inputs`); returns execution requirements."""
    args.add("--backend", ctx.attr.backend)
    if ctx.attr.backend in ("iree", "auto") and ctx.attr.model:
        bundle = ctx.attr.model[LlmArtifactInfo]
        args.add("--model", bundle.manifest.dirname)
        inputs.extend(bundle.files.to_list())
        return {}
    if ctx.attr.backend == "iree":
        fail("backend 'iree' needs `model`, an llm_artifacts target such as @rules_iree_llm//artifacts:smollm2_cpu")

    # An HTTP server; for `auto` without a bundle, an Ollama server if one answers (model_name, or
    # the first model it lists), else no LLM.
    if ctx.attr.backend != "auto" and not ctx.attr.model_name:
        fail("backend '{}' needs `model_name`, the server's name of the model".format(ctx.attr.backend))
    if ctx.attr.model_name:
        args.add("--model", ctx.attr.model_name)
    if ctx.attr.endpoint:
        args.add("--endpoint", ctx.attr.endpoint)

    # A server's answers are not inputs Bazel can see: never cache them remotely or sandbox
    # them away from the network.
    return {"no-remote": "1", "requires-network": "1", "no-cache": "1"}

def _llm_transform_impl(ctx):
    output = ctx.actions.declare_file(ctx.label.name + ".mlir")
    report = ctx.actions.declare_file(ctx.label.name + ".report.json")
    inputs = [ctx.file.src]
    args = ctx.actions.args()
    args.add(ctx.file.src)
    args.add("-o", output)
    args.add("--report", report)
    args.add("--mode", ctx.attr.mode)
    if ctx.attr.task:
        args.add("--task", ctx.attr.task)
    if ctx.attr.search_budget >= 0:
        args.add("--search-budget", str(ctx.attr.search_budget))
    args.add("--cost", ctx.attr.cost)
    args.add("--best-of", str(ctx.attr.best_of))

    # The search needs no model: in search mode no backend is passed and no bundle is an input.
    execution_requirements = {} if ctx.attr.mode == "search" else _add_backend(ctx, args, inputs)
    for function in ctx.attr.functions:
        args.add("--function", function)
    if ctx.attr.passes:
        args.add_joined("--passes", ctx.attr.passes, join_with = ",")
    args.add("--max-attempts", str(ctx.attr.max_attempts))
    args.add("--max-new-tokens", str(ctx.attr.max_new_tokens))
    if ctx.attr.strict:
        args.add("--strict")
    if ctx.attr.cache:
        args.add("--cache", ctx.files.cache[0].dirname)
        args.add("--cache-only")
        inputs.extend(ctx.files.cache)
    args.add_all(ctx.attr.options)
    ctx.actions.run(
        executable = ctx.executable._passlib_cli,
        arguments = [args],
        inputs = inputs,
        outputs = [output, report],
        mnemonic = "LlmTransform",
        progress_message = "LLM-assisted {} of %{{input}} (%{{label}})".format(ctx.attr.mode),
        execution_requirements = execution_requirements,
    )
    return [
        DefaultInfo(files = depset([output])),
        OutputGroupInfo(report = depset([report])),
    ]

llm_transform = rule(
    implementation = _llm_transform_impl,
    doc = """Runs an LLM-assisted transformation, with a verified search as its floor, on an MLIR file.

Outputs `<name>.mlir` (the target's default output, so other rules take it as an MLIR source) and
`<name>.report.json` (output group `report`).

`mode = "search"` needs no model: a bounded, deterministic search over pipelines of allowed passes,
per function and then for the module. In `rewrite` and `schedule` modes the same search (budget
`search_budget`, 40 pass-manager runs by default) is the floor: the LLM's candidate is kept only when it
is valid and strictly cheaper than the search's result, which is the output otherwise. Every
candidate, the search's included, is parsed, verified, type-checked and, where inputs can be made,
executed against the original before it is kept; the report names the winner of each function
(`input`, `search` or `llm`) and the cost of each. When the LLM is absent or wrong, the output is the
floor's, and the report says why; `strict = True` makes a unit that nothing improved a build error.
""",
    attrs = {
        "src": attr.label(
            doc = "The MLIR file to transform (typically another rule's output).",
            allow_single_file = [".mlir"],
            mandatory = True,
        ),
        "mode": attr.string(
            doc = "`rewrite` (the LLM rewrites functions), `schedule` (the LLM picks a pass pipeline) or `search` (no LLM).",
            default = "rewrite",
            values = _MODES,
        ),
        "task": attr.string(
            doc = "The rewrite task: a template name (`simplify`, `strength-reduce`; see passlib/templates/rewrite/tasks) or an instruction in words.",
        ),
        "search_budget": attr.int(
            default = -1,
            doc = "Pass-manager runs the search may spend per unit (-1: 200 in search mode, 40 as the floor of the LLM modes; 0: no floor).",
        ),
        "cost": attr.string(
            default = "ops",
            values = _COSTS,
            doc = "What the search and the comparison with the LLM minimize: `ops` (operation count) or `dispatches` (dispatch regions iree-compile forms for llvm-cpu).",
        ),
        "best_of": attr.int(default = 1, doc = "LLM answers per attempt (seeded samples); the best valid one counts."),
        "backend": attr.string(
            doc = "`iree` (in-process from `model`), `ollama` or `openai` (a server at `endpoint`), or `auto` (`model` if given, else an Ollama server if one answers, else no LLM: the search's result, with the reason in the report).",
            default = "iree",
            values = _BACKENDS,
        ),
        "model": attr.label(
            doc = "For the iree backend: the llm_artifacts bundle to run.",
            providers = [LlmArtifactInfo],
        ),
        "model_name": attr.string(doc = "For the ollama and openai backends: the server's model name."),
        "endpoint": attr.string(doc = "For the ollama and openai backends: the server URL."),
        "functions": attr.string_list(doc = "Functions to transform (default: every function)."),
        "passes": attr.string_list(doc = "Schedule mode: the allow-list of passes (default: passlib's)."),
        "max_attempts": attr.int(default = 3, doc = "Prompts per function, diagnostics fed back in between."),
        "max_new_tokens": attr.int(default = 512, doc = "The longest answer the LLM may give."),
        "strict": attr.bool(default = False, doc = "Fail the build when no candidate passes."),
        "cache": attr.label(
            doc = "A directory of recorded responses (a filegroup); the action then runs cache-only.",
            allow_files = True,
        ),
        "options": attr.string_list(doc = "Further passlib CLI flags."),
        "_passlib_cli": attr.label(
            default = "//passlib:passlib_cli",
            executable = True,
            cfg = "exec",
        ),
    },
)
