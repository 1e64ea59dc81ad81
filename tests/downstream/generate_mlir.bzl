"""A rule of this workspace's own that generates MLIR, as a user's code generator would."""

def _elementwise_mlir_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".mlir")
    shape = "x".join([str(d) for d in ctx.attr.shape])
    tensor = "tensor<{}xf32>".format(shape)
    lines = ["func.func @{}(%a: {t}, %b: {t}) -> {t} {{".format(ctx.attr.function, t = tensor)]
    value = "%a"
    for index, op in enumerate(ctx.attr.ops):
        lines.append("  %v{i} = arith.{op} {value}, %b : {t}".format(i = index, op = op, value = value, t = tensor))
        value = "%v{}".format(index)
    lines.append("  return {} : {}".format(value, tensor))
    lines.append("}")
    ctx.actions.write(out, "\n".join(lines) + "\n")
    return [DefaultInfo(files = depset([out]))]

elementwise_mlir = rule(
    implementation = _elementwise_mlir_impl,
    doc = "Writes a function applying the binary arith ops `ops` in turn to two tensors.",
    attrs = {
        "function": attr.string(mandatory = True),
        "shape": attr.int_list(mandatory = True),
        "ops": attr.string_list(mandatory = True),
    },
)
