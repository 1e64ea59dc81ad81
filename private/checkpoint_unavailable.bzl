"""A stand-in for a checkpoint that could not be fetched: building anything from it fails at once."""

def _checkpoint_unavailable_impl(ctx):
    fail(ctx.attr.message)

checkpoint_unavailable = rule(
    implementation = _checkpoint_unavailable_impl,
    doc = "Fails at analysis with `message`, which says how to supply the checkpoint.",
    attrs = {"message": attr.string(mandatory = True)},
)
