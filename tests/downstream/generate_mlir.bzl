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

def _repeated_call_mlir_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".mlir")
    tensor = "tensor<{}xf32>".format("x".join([str(d) for d in ctx.attr.shape]))
    lines = [
        "func.func private @helper(%x: {t}, %y: {t}) -> {t} {{".format(t = tensor),
        "  %0 = arith.{} %x, %y : {t}".format(ctx.attr.op, t = tensor),
        "  return %0 : {}".format(tensor),
        "}",
        "func.func private @unused(%x: {t}) -> {t} {{".format(t = tensor),
        "  return %x : {}".format(tensor),
        "}",
        "func.func @{}(%a: {t}, %b: {t}) -> {t} {{".format(ctx.attr.function, t = tensor),
        "  %first = call @helper(%a, %b) : ({t}, {t}) -> {t}".format(t = tensor),
        "  %second = call @helper(%a, %b) : ({t}, {t}) -> {t}".format(t = tensor),
        "  %dead = arith.subf %a, %b : {}".format(tensor),
        "  %sum = arith.addf %first, %second : {}".format(tensor),
        "  return %sum : {}".format(tensor),
        "}",
    ]
    ctx.actions.write(out, "\n".join(lines) + "\n")
    return [DefaultInfo(files = depset([out]))]

repeated_call_mlir = rule(
    implementation = _repeated_call_mlir_impl,
    doc = "Writes a function that calls a private helper twice with the same arguments and computes a value it never uses, as naive generators do.",
    attrs = {
        "function": attr.string(mandatory = True),
        "shape": attr.int_list(mandatory = True),
        "op": attr.string(mandatory = True),
    },
)
