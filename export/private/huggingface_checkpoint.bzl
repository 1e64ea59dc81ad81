"""`huggingface_checkpoint`: a repository holding one Hugging Face checkpoint, pinned by sha256.

The files come from a local directory the user names (the `local_dir` attribute, or the environment
variable named by `local_dir_variable`, e.g. `--repo_env=RULES_IREE_LLM_QWEN_DIR=/models/qwen`), or
else are downloaded from `{endpoint}/{repo_id}/resolve/{revision}/{file}` and checked against their
sha256. When neither works (offline, no local copy), the repository still loads: its `:checkpoint`
target fails at analysis with a message that says exactly how to supply the weights, so only builds
that need the checkpoint fail.
"""

_CHECKPOINT_UNAVAILABLE = Label("//export/private:checkpoint_unavailable.bzl")

_ENDPOINT_VARIABLE = "HF_ENDPOINT"
_DEFAULT_ENDPOINT = "https://huggingface.co"

def _write_available(rctx, files):
    rctx.file("BUILD.bazel", """\
filegroup(
    name = "checkpoint",
    srcs = {files},
    visibility = ["//visibility:public"],
)
""".format(files = repr(sorted(files))))

def _write_unavailable(rctx, reason):
    variable = rctx.attr.local_dir_variable
    lines = [
        "The checkpoint {} (revision {}) is not available: {}".format(rctx.attr.repo_id, rctx.attr.revision, reason),
        "Supply it, then build again:",
        "  - a local copy: bazel build --repo_env={}=/path/to/{} ...".format(variable, rctx.attr.repo_id.split("/")[-1]),
        "    (the directory holds {})".format(", ".join(sorted(rctx.attr.files.keys()))),
    ]
    if all(rctx.attr.files.values()):
        lines.append("  - or network access to {} (or a mirror named by --repo_env={}=URL)".format(
            _DEFAULT_ENDPOINT,
            _ENDPOINT_VARIABLE,
        ))
    else:
        lines.append("  - or pin the sha256 of every file in the checkpoints.huggingface tag to enable the download")
    message = "\n".join(lines)
    rctx.file("BUILD.bazel", """\
load("{bzl}", "checkpoint_unavailable")

checkpoint_unavailable(
    name = "checkpoint",
    message = {message},
    visibility = ["//visibility:public"],
)
""".format(bzl = str(_CHECKPOINT_UNAVAILABLE), message = repr(message)))

def _from_local_dir(rctx, directory):
    missing = []
    for name in rctx.attr.files:
        source = rctx.path(directory + "/" + name)
        if not source.exists:
            missing.append(str(source))
            continue
        rctx.symlink(source, name)
    if missing:
        return "the local directory {} lacks {}".format(directory, ", ".join(missing))
    return None

def _download(rctx):
    endpoint = rctx.getenv(_ENDPOINT_VARIABLE) or _DEFAULT_ENDPOINT
    unpinned = [name for name, sha256 in rctx.attr.files.items() if not sha256]
    if unpinned:
        return "no sha256 is pinned for {}, so it is not downloaded".format(", ".join(sorted(unpinned)))
    for name, sha256 in rctx.attr.files.items():
        url = "{}/{}/resolve/{}/{}".format(endpoint.rstrip("/"), rctx.attr.repo_id, rctx.attr.revision, name)
        result = rctx.download(url = url, output = name, sha256 = sha256, allow_fail = True)
        if not result.success:
            return "downloading {} failed (offline, or the file's sha256 differs from the pinned one)".format(url)
    return None

def _huggingface_checkpoint_impl(rctx):
    directory = rctx.attr.local_dir or rctx.getenv(rctx.attr.local_dir_variable) or ""
    if directory:
        problem = _from_local_dir(rctx, directory)
    else:
        problem = _download(rctx)
    if problem:
        _write_unavailable(rctx, problem)
    else:
        _write_available(rctx, rctx.attr.files.keys())

huggingface_checkpoint = repository_rule(
    implementation = _huggingface_checkpoint_impl,
    doc = "A repository holding one Hugging Face checkpoint (see this file's docstring).",
    attrs = {
        "repo_id": attr.string(mandatory = True, doc = "The Hugging Face repository, e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct."),
        "revision": attr.string(mandatory = True, doc = "The commit to download."),
        "files": attr.string_dict(
            mandatory = True,
            doc = "Each file of the checkpoint and its sha256 (an empty sha256 disables the download).",
        ),
        "local_dir": attr.string(doc = "An absolute path holding the files; takes precedence over downloading."),
        "local_dir_variable": attr.string(
            default = "RULES_IREE_LLM_CHECKPOINT_DIR",
            doc = "An environment variable (set with --repo_env) naming a local directory of the files.",
        ),
    },
)
