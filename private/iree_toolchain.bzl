"""The `iree` toolchain: iree-compile and the IREE runtime, taken from the pip hub."""

IREE_TOOLCHAIN_TYPE = Label("//toolchains:iree_toolchain_type")

IreeToolchainInfo = provider(
    doc = "What the IREE toolchain gives the rules that compile and run IREE modules.",
    fields = {
        "compiler": "FilesToRunProvider: the iree-compile executable.",
        "runtime": "Target: a Python library providing `iree.runtime`.",
    },
)

def _iree_toolchain_impl(ctx):
    info = IreeToolchainInfo(
        compiler = ctx.attr.compiler[DefaultInfo].files_to_run,
        runtime = ctx.attr.runtime,
    )
    return [platform_common.ToolchainInfo(iree = info)]

iree_toolchain = rule(
    implementation = _iree_toolchain_impl,
    doc = "Declares an IREE toolchain (register it with `toolchain(toolchain_type = ...)`).",
    attrs = {
        "compiler": attr.label(
            doc = "The iree-compile executable.",
            executable = True,
            cfg = "exec",
            mandatory = True,
        ),
        "runtime": attr.label(
            doc = "A Python library that provides `iree.runtime`.",
            mandatory = True,
        ),
    },
)
