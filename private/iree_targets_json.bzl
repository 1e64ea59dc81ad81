"""`iree_targets_json`: IREE_TARGETS as JSON, so that Python reads the targets' flags from their one
home (private/targets.bzl) instead of repeating them."""

load(":targets.bzl", "IREE_TARGETS")

def _iree_targets_json_impl(ctx):
    output = ctx.actions.declare_file(ctx.label.name + ".json")
    ctx.actions.write(output, json.encode_indent(IREE_TARGETS, indent = "  ") + "\n")
    return [DefaultInfo(files = depset([output]))]

iree_targets_json = rule(
    implementation = _iree_targets_json_impl,
    doc = "Writes `<name>.json`: every IREE target of private/targets.bzl with its flags.",
)
