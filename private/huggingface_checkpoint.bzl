"""`huggingface_checkpoint`: a repository holding one Hugging Face checkpoint, pinned by sha256.

The files come from a local directory the user names (the `local_dir` attribute, or the environment
variable named by `local_dir_variable`, e.g. `--repo_env=RULES_IREE_LLM_QWEN_DIR=/models/qwen`), or
else are downloaded from `{endpoint}/{repo_id}/resolve/{revision}/{file}` and checked against their
sha256. When neither works (offline, no local copy), the repository still loads: its `:checkpoint`
target fails at analysis with a message that says exactly how to supply the weights, so only builds
that need the checkpoint fail.

A tag whose files are not all pinned is not downloaded, unless asked for with `allow_unpinned = True`
or `--repo_env=RULES_IREE_LLM_ALLOW_UNPINNED=1`, and only from an https endpoint (Bazel downloads
nothing without a sha256 over plain http). Then the revision (a branch such as "main" or a
commit) is resolved to a commit through the Hub API (`{endpoint}/api/models/{repo_id}/revision/
{revision}`), every file is downloaded from that commit (a file that has a pin is still checked
against it), and the commit and each file's sha256 are printed as a `checkpoints.huggingface(...)`
call to paste into MODULE.bazel, after which the download is strict. Bazel keeps the fetched
repository: a moving branch is resolved again only when the repository is fetched again.

A downloaded repository also holds checkpoint_pins.json (`:pins`): {"repo_id", "revision" (the
commit), "requested_revision", "files": {name: sha256}, "pinned"}. `:checkpoint` carries the same text
in `CheckpointPinsInfo` (private/checkpoint_pins.bzl), which llm_artifacts records in the
bundle's manifest. A local copy has no pins (it is used as it is).
"""

_CHECKPOINT_UNAVAILABLE = Label("//private:checkpoint_unavailable.bzl")
_CHECKPOINT_PINS = Label("//private:checkpoint_pins.bzl")

_ENDPOINT_VARIABLE = "HF_ENDPOINT"
_DEFAULT_ENDPOINT = "https://huggingface.co"
ALLOW_UNPINNED_VARIABLE = "RULES_IREE_LLM_ALLOW_UNPINNED"
_DEFAULT_LOCAL_DIR_VARIABLE = "RULES_IREE_LLM_CHECKPOINT_DIR"
PINS_FILE = "checkpoint_pins.json"

# Where the Hub API's answer is downloaded to (deleted once read).
_REVISION_ANSWER = "hub_revision_answer.json"
_HEX_DIGITS = "0123456789abcdefABCDEF"

def _tag_name(rctx):
    """The name the user gave the tag: the last part of the canonical repository name."""
    name = rctx.name
    for separator in ("~", "+"):
        name = name.split(separator)[-1]
    return name

def _write_available(rctx, files, pins_text):
    if pins_text == None:
        rctx.file("BUILD.bazel", """\
filegroup(
    name = "checkpoint",
    srcs = {files},
    visibility = ["//visibility:public"],
)

# A local copy is used as it is: it has no pins.
filegroup(
    name = "pins",
    srcs = [],
    visibility = ["//visibility:public"],
)
""".format(files = repr(sorted(files))))
        return
    rctx.file(PINS_FILE, pins_text)
    rctx.file("BUILD.bazel", """\
load("{bzl}", "checkpoint_with_pins")

# The checkpoint's files, carrying the pins they were downloaded by. {pins_file} is not among the
# files: the export and the source digest read the checkpoint's directory (checkpoint_pins.bzl).
checkpoint_with_pins(
    name = "checkpoint",
    srcs = {files},
    pins = {pins},
    visibility = ["//visibility:public"],
)

filegroup(
    name = "pins",
    srcs = [{pins_file}],
    visibility = ["//visibility:public"],
)
""".format(
        bzl = str(_CHECKPOINT_PINS),
        files = repr(sorted(files)),
        pins = repr(pins_text),
        pins_file = repr(PINS_FILE),
    ))

def _write_unavailable(rctx, reason):
    variable = rctx.attr.local_dir_variable
    lines = [
        "The checkpoint {} (revision {}) is not available: {}".format(rctx.attr.repo_id, rctx.attr.revision, reason),
        "Supply it, then build again:",
        "  - a local copy: bazel build --repo_env={}=/path/to/{} ...".format(variable, rctx.attr.repo_id.split("/")[-1]),
        "    (the directory holds {})".format(", ".join(sorted(rctx.attr.files.keys()))),
    ]
    if all(rctx.attr.files.values()) or _allow_unpinned(rctx):
        lines.append("  - or network access to {} (or a mirror named by --repo_env={}=URL)".format(
            _DEFAULT_ENDPOINT,
            _ENDPOINT_VARIABLE,
        ))
    else:
        lines.append("  - or pin the sha256 of every file in the checkpoints.huggingface tag to enable the download")
        lines.append(
            "  - or download revision {} unpinned, with network access: `allow_unpinned = True` in the tag, or ".format(
                rctx.attr.revision,
            ) + "bazel build --repo_env={}=1 ... (the commit and the sha256 to pin are printed)".format(
                ALLOW_UNPINNED_VARIABLE,
            ),
        )
    message = "\n".join(lines)
    rctx.file("BUILD.bazel", """\
load("{bzl}", "checkpoint_unavailable")

checkpoint_unavailable(
    name = "checkpoint",
    message = {message},
    visibility = ["//visibility:public"],
)

checkpoint_unavailable(
    name = "pins",
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

def _allow_unpinned(rctx):
    """Whether an unpinned tag may be downloaded: the attribute, or the environment variable.

    The variable is read only here, so that only the repositories it matters to are fetched again
    when it changes.
    """
    if rctx.attr.allow_unpinned:
        return True
    return (rctx.getenv(ALLOW_UNPINNED_VARIABLE) or "").strip().lower() in ("1", "true", "yes")

def _is_commit(text):
    return len(text) == 40 and not text.lstrip(_HEX_DIGITS)

def _shortened(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

def _resolve_commit(rctx, endpoint):
    """(commit, None) for the tag's revision, or (None, the reason it could not be resolved)."""
    revision = rctx.attr.revision
    if _is_commit(revision):
        return revision.lower(), None

    # A revision such as "refs/pr/1" is one path segment of the API's URL.
    url = "{}/api/models/{}/revision/{}".format(endpoint, rctx.attr.repo_id, revision.replace("/", "%2F"))
    result = rctx.download(url = url, output = _REVISION_ANSWER, allow_fail = True)
    if not result.success:
        return None, "asking {} for the commit of revision {} failed (offline, or no such repository or revision)".format(
            url,
            revision,
        )
    answer = json.decode(rctx.read(_REVISION_ANSWER), default = None)
    rctx.delete(_REVISION_ANSWER)
    if type(answer) != "dict":
        return None, "the Hub API's answer at {} is not a JSON object".format(url)
    sha = answer.get("sha")
    if type(sha) != "string" or not _is_commit(sha):
        return None, "the Hub API's answer at {} has no commit: its \"sha\" is {} (40 hex digits expected)".format(
            url,
            _shortened(sha),
        )
    return sha.lower(), None

def _pins_text(rctx, commit, digests, pinned):
    pins = {
        "files": {name: digests[name] for name in sorted(digests)},
        "pinned": pinned,
        "repo_id": rctx.attr.repo_id,
        "requested_revision": rctx.attr.revision,
        "revision": commit,
    }
    return json.encode_indent(pins, indent = "  ") + "\n"

def _tag_to_paste(rctx, commit, digests):
    """The checkpoints.huggingface(...) call that pins `commit` and `digests`, as in MODULE.bazel."""
    lines = [
        "checkpoints.huggingface(",
        "    name = {},".format(repr(_tag_name(rctx))),
        "    files = {",
    ]
    lines.extend(["        {}: {},".format(repr(name), repr(digests[name])) for name in sorted(digests)])
    lines.append("    },")
    if rctx.attr.local_dir_variable != _DEFAULT_LOCAL_DIR_VARIABLE:
        lines.append("    local_dir_variable = {},".format(repr(rctx.attr.local_dir_variable)))
    lines.append("    repo_id = {},".format(repr(rctx.attr.repo_id)))
    lines.append("    revision = {},".format(repr(commit)))
    lines.append(")")
    return "\n".join(lines)

def _download_files(rctx, endpoint, revision):
    """({name: sha256}, None) once every file is downloaded from `revision`, or (None, the reason)."""
    digests = {}
    for name in sorted(rctx.attr.files):
        pin = rctx.attr.files[name]
        url = "{}/{}/resolve/{}/{}".format(endpoint, rctx.attr.repo_id, revision, name)
        if pin:
            result = rctx.download(url = url, output = name, sha256 = pin, allow_fail = True)
            if not result.success:
                return None, "downloading {} failed (offline, or the file's sha256 differs from the pinned one)".format(url)
            digests[name] = pin
        else:
            result = rctx.download(url = url, output = name, allow_fail = True)
            if not result.success:
                return None, "downloading {} failed (offline, or no such file at that commit)".format(url)
            digests[name] = result.sha256
    return digests, None

def _download(rctx):
    """(the text of checkpoint_pins.json, None) once downloaded, or (None, why it was not)."""
    endpoint = (rctx.getenv(_ENDPOINT_VARIABLE) or _DEFAULT_ENDPOINT).rstrip("/")
    unpinned = sorted([name for name, sha256 in rctx.attr.files.items() if not sha256])
    if not unpinned:
        digests, problem = _download_files(rctx, endpoint, rctx.attr.revision)
        if problem:
            return None, problem
        return _pins_text(rctx, rctx.attr.revision, digests, pinned = True), None
    if not _allow_unpinned(rctx):
        return None, "no sha256 is pinned for {}, so it is not downloaded".format(", ".join(unpinned))
    if endpoint.lower().startswith("http://"):
        # Bazel refuses a download without a checksum over plain http (bazelbuild/bazel#8607), the
        # Hub API's answer included; say so rather than "failed (offline, ...)".
        return None, (
            "the endpoint {} is plain http, and Bazel downloads files without a sha256 only over " +
            "https (no sha256 is pinned for {}): use an https endpoint (--repo_env={}=https://...) " +
            "or pin the sha256 of every file in the tag"
        ).format(endpoint, ", ".join(unpinned), _ENDPOINT_VARIABLE)
    commit, problem = _resolve_commit(rctx, endpoint)
    if problem:
        return None, problem
    digests, problem = _download_files(rctx, endpoint, commit)
    if problem:
        return None, problem

    message = "\n".join([
        "The checkpoint {} was downloaded unpinned: revision {} is commit {}, and {} had no pinned sha256.".format(
            rctx.attr.repo_id,
            rctx.attr.revision,
            commit,
            ", ".join(unpinned),
        ),
        "To pin it (the download is then checked strictly), put this tag in MODULE.bazel:",
        "",
        _tag_to_paste(rctx, commit, digests),
        "",
    ])

    # A repository rule's print shows as a DEBUG line of the build that fetched it: the way to tell
    # the user the pins, which no file of the workspace can receive.
    print(message)  # buildifier: disable=print
    return _pins_text(rctx, commit, digests, pinned = False), None

def _huggingface_checkpoint_impl(rctx):
    directory = rctx.attr.local_dir or rctx.getenv(rctx.attr.local_dir_variable) or ""
    pins_text = None
    if directory:
        problem = _from_local_dir(rctx, directory)
    else:
        pins_text, problem = _download(rctx)
    if problem:
        _write_unavailable(rctx, problem)
    else:
        _write_available(rctx, rctx.attr.files.keys(), pins_text)

huggingface_checkpoint = repository_rule(
    implementation = _huggingface_checkpoint_impl,
    doc = "A repository holding one Hugging Face checkpoint (see this file's docstring).",
    attrs = {
        "repo_id": attr.string(mandatory = True, doc = "The Hugging Face repository, e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct."),
        "revision": attr.string(
            mandatory = True,
            doc = "The commit to download (a branch such as \"main\" only when downloading unpinned).",
        ),
        "files": attr.string_dict(
            mandatory = True,
            doc = "Each file of the checkpoint and its sha256 (an empty sha256 disables the download " +
                  "unless allow_unpinned).",
        ),
        "allow_unpinned": attr.bool(
            doc = "Download a tag whose files are not all pinned (also --repo_env=" + ALLOW_UNPINNED_VARIABLE +
                  "=1): resolve the revision to a commit, download it, print the pins to paste.",
        ),
        "local_dir": attr.string(doc = "An absolute path holding the files; takes precedence over downloading."),
        "local_dir_variable": attr.string(
            default = _DEFAULT_LOCAL_DIR_VARIABLE,
            doc = "An environment variable (set with --repo_env) naming a local directory of the files.",
        ),
    },
)
