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

# The exec group of every iree-compile action. A rule that compiles declares it with
# `exec_groups = IREE_COMPILE_EXEC_GROUPS`; a target then routes its compiles under remote execution
# with `exec_properties = {"compile.KEY": "VALUE"}` (docs/remote.md), apart from its other actions.
IREE_COMPILE_EXEC_GROUP = "compile"

IREE_COMPILE_EXEC_GROUPS = {
    IREE_COMPILE_EXEC_GROUP: exec_group(toolchains = [IREE_TOOLCHAIN_TYPE]),
}

def compile_vmfb(ctx, src, out, target_name, extra_flags = []):
    """Registers the action that compiles `src` into `out` for `target_name`.

    The action runs in the exec group IREE_COMPILE_EXEC_GROUP, which the rule must declare
    (`exec_groups = IREE_COMPILE_EXEC_GROUPS`); iree-compile comes from that group's toolchain.

    Args:
      ctx: the rule context; its rule must declare IREE_COMPILE_EXEC_GROUPS.
      src: File, the MLIR input.
      out: File, the VMFB to write.
      target_name: a key of IREE_TARGETS.
      extra_flags: further iree-compile flags.

    Returns:
      The target definition struct.
    """
    target = iree_target(target_name)
    toolchain = ctx.exec_groups[IREE_COMPILE_EXEC_GROUP].toolchains[IREE_TOOLCHAIN_TYPE].iree
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
        exec_group = IREE_COMPILE_EXEC_GROUP,
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
    doc = """Compiles an MLIR file into `<name>.vmfb` for one IREE target.

The compile runs in the exec group `compile`: under remote execution,
`exec_properties = {"compile.cpu": "znver4"}` routes it (docs/remote.md).
""",
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
    exec_groups = IREE_COMPILE_EXEC_GROUPS,
)
