"""`iree_vmfb`: compile one MLIR file to an IREE VM flatbuffer for a named target."""

load(":iree_toolchain.bzl", "IREE_TOOLCHAIN_TYPE")
load(":targets.bzl", "iree_target")

IreeVmfbInfo = provider(
    doc = "A compiled IREE module and the target it was compiled for.",
    fields = {
        "vmfb": "File: the compiled module.",
        "target": "string: the target name (a key of IREE_TARGETS).",
        "device": "string: the IREE runtime driver that runs it.",
        "executable_format": "string: the format of the executables inside it.",
    },
)

def compile_vmfb(ctx, src, out, target_name, extra_flags = []):
    """Registers the action that compiles `src` into `out` for `target_name`.

    Args:
      ctx: the rule context; its rule must declare the IREE toolchain type.
      src: File, the MLIR input.
      out: File, the VMFB to write.
      target_name: a key of IREE_TARGETS.
      extra_flags: further iree-compile flags.

    Returns:
      The target definition struct.
    """
    target = iree_target(target_name)
    toolchain = ctx.toolchains[IREE_TOOLCHAIN_TYPE].iree
    args = ctx.actions.args()
    args.add(src)
    args.add_all(target.compile_flags)
    args.add_all(extra_flags)
    args.add("-o", out)
    ctx.actions.run(
        executable = toolchain.compiler,
        arguments = [args],
        inputs = [src],
        outputs = [out],
        mnemonic = "IreeCompile",
        progress_message = "Compiling %{{input}} for IREE target {}".format(target_name),
    )
    return target

def _iree_vmfb_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".vmfb")
    target = compile_vmfb(ctx, ctx.file.src, out, ctx.attr.target, ctx.attr.flags)
    return [
        DefaultInfo(files = depset([out])),
        IreeVmfbInfo(
            vmfb = out,
            target = ctx.attr.target,
            device = target.device,
            executable_format = target.executable_format,
        ),
    ]

iree_vmfb = rule(
    implementation = _iree_vmfb_impl,
    doc = "Compiles an MLIR file into `<name>.vmfb` for one IREE target.",
    attrs = {
        "src": attr.label(
            doc = "The MLIR file to compile.",
            allow_single_file = [".mlir", ".mlirbc"],
            mandatory = True,
        ),
        "target": attr.string(
            doc = "The IREE target name: llvm-cpu, llvm-cpu-generic, llvm-cpu-znver4, rocm or cuda.",
            mandatory = True,
        ),
        "flags": attr.string_list(
            doc = "Further iree-compile flags, after the target's own.",
        ),
    },
    toolchains = [IREE_TOOLCHAIN_TYPE],
)
