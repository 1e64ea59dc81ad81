"""`iree_vmfb`: compile one MLIR file to an IREE VM flatbuffer for a named target."""

load(":iree_toolchain.bzl", "IREE_TOOLCHAIN_TYPE")
load(":targets.bzl", "IREE_TARGETS", "iree_target")

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

# Importing parameters into iree-compile is limited to this many bytes per parameter; all of them.
_IMPORT_EVERY_PARAMETER = "--iree-opt-import-parameter-maximum-size=1099511627776"

# Constants of at least this many bytes go to the exported archive; smaller ones stay in the VMFB.
_EXPORT_PARAMETER_MINIMUM_SIZE = "--iree-opt-export-parameter-minimum-size=4096"

def packed_parameters(archive, packed_archive, scope):
    """What `compile_vmfb(parameters = ...)` takes: weights to pack at build time.

    Args:
      archive: File, the parameter archive (IRPA) the MLIR's parameters come from.
      packed_archive: File, the archive to write the packed weights to.
      scope: string, the parameter scope of both archives (the MLIR's `#flow.parameter` scope).

    Returns:
      A struct for compile_vmfb.
    """
    return struct(archive = archive, packed_archive = packed_archive, scope = scope)

def compile_toolchain(ctx):
    """The IreeToolchainInfo that the compile exec group resolved (the rule declares IREE_COMPILE_EXEC_GROUPS).

    Args:
      ctx: the rule context.

    Returns:
      The IreeToolchainInfo whose compiler compile_vmfb runs.
    """
    return ctx.exec_groups[IREE_COMPILE_EXEC_GROUP].toolchains[IREE_TOOLCHAIN_TYPE].iree

def compile_vmfb(ctx, src, out, target_name, extra_flags = [], parameters = None):
    """Registers the action that compiles `src` into `out` for `target_name`.

    The action runs in the exec group IREE_COMPILE_EXEC_GROUP, which the rule must declare
    (`exec_groups = IREE_COMPILE_EXEC_GROUPS`); iree-compile comes from that group's toolchain.

    Args:
      ctx: the rule context; its rule must declare IREE_COMPILE_EXEC_GROUPS.
      src: File, the MLIR input.
      out: File, the VMFB to write.
      target_name: a key of IREE_TARGETS.
      extra_flags: further iree-compile flags.
      parameters: optional `packed_parameters(...)`: the compile imports the archive's weights,
        evaluates their transformations (e.g. data-tiling packs) at build time and writes the
        results to the packed archive, which the VMFB then references instead of the original.

    Returns:
      The target definition struct.
    """
    target = iree_target(target_name)
    toolchain = compile_toolchain(ctx)
    args = ctx.actions.args()
    args.add(src)
    args.add_all(target.compile_flags)
    args.add_all(extra_flags)
    inputs = [src]
    outputs = [out]
    if parameters:
        args.add(parameters.archive, format = "--iree-opt-import-parameters=" + parameters.scope + "=%s")
        args.add(_IMPORT_EVERY_PARAMETER)
        args.add(parameters.packed_archive, format = "--iree-opt-export-parameters=" + parameters.scope + "=%s")
        args.add(_EXPORT_PARAMETER_MINIMUM_SIZE)
        inputs.append(parameters.archive)
        outputs.append(parameters.packed_archive)
    args.add("-o", out)
    ctx.actions.run(
        executable = toolchain.compiler,
        arguments = [args],
        inputs = inputs,
        outputs = outputs,
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
            doc = "The IREE target name: a key of IREE_TARGETS (private/targets.bzl).",
            mandatory = True,
            values = sorted(IREE_TARGETS.keys()),
        ),
        "flags": attr.string_list(
            doc = "Further iree-compile flags, after the target's own.",
        ),
    },
    exec_groups = IREE_COMPILE_EXEC_GROUPS,
)
