#!/usr/bin/env bash
# Gives this machine what `bazel build` / `bazel test` in this repository need.
#
# 1. Bazel >= 7: kept as it is when present. Otherwise, on Debian, installed from Debian
#    unstable's `bazel-bootstrap` (with its JDK and Java libraries), pinned so that nothing
#    else on the machine moves to unstable. The archive URI is read from the machine's own
#    apt sources.
# 2. `.bazelrc.local` (git-ignored, read by `.bazelrc` through try-import): only when the Bazel
#    in use is Debian's offline build, the overrides it needs (module stubs for the modules its
#    packages do not ship, rules_python 1.x from ../shared/third_party when the Bazel Central
#    Registry cannot be reached, --noenable_workspace). A user with bazelisk and network access gets
#    no such file.
#
# Idempotent: a second run installs nothing, rewrites nothing and says so.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
changed=0
log() { printf 'setup: %s\n' "$*"; }

bazel_major_version() {
  # Prints the major version of the bazel on PATH, or nothing. Debian's build answers
  # `--version` without starting a server.
  command -v bazel >/dev/null 2>&1 || return 0
  bazel --version 2>/dev/null | sed -n 's/^bazel \([0-9]*\).*/\1/p' | head -n 1
}

debian_archive_uri() {
  # The archive URI that this machine's own apt sources use for Debian's main archive.
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
      /etc/apt/sources.list)"
  fi
  printf '%s' "$uri"
}

bcr_answers() {
  # Whether the Bazel Central Registry answers from this machine (5 s at most).
  python3 - <<'PYTHON' >/dev/null 2>&1
import urllib.request
urllib.request.urlopen("https://bcr.bazel.build/modules/rules_python/metadata.json", timeout=5).read(1)
PYTHON
}

write_if_different() {
  # write_if_different PATH CONTENT: atomic write (temp file + rename) only when the content differs.
  local path="$1" content="$2"
  if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ]; then
    return 0
  fi
  local tmp
  tmp="$(mktemp "${path}.XXXXXX")"
  printf '%s\n' "$content" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$path"
  log "wrote $path"
  changed=1
}

install_debian_bazel() {
  if [ ! -f /etc/debian_version ]; then
    echo "setup: no Bazel >= 7 on PATH and this is not Debian; install bazelisk (https://github.com/bazelbuild/bazelisk) and run this script again." >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local uri
  uri="$(debian_archive_uri)"
  if [ -z "$uri" ]; then
    echo "setup: could not read the Debian archive URI from /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; add a Debian apt source and run this script again." >&2
    exit 1
  fi
  log "installing Bazel 7 from Debian unstable (archive $uri)"
  write_if_different /etc/apt/sources.list.d/rules-iree-llm-sid.sources "Types: deb
URIs: $uri
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
Check-Valid-Until: no"
  write_if_different /etc/apt/preferences.d/rules-iree-llm-sid "Package: *
Pin: release n=sid
Pin-Priority: 100"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq -t sid -o Dpkg::Options::=--force-overwrite \
    bazel-bootstrap bazel-rules-python default-jdk-headless >/dev/null
  # Every Java library bazel-bootstrap depends on must be sid's too; an older jar left from
  # bookworm makes the server start while the client never connects.
  local java_libraries
  java_libraries="$(apt-cache depends bazel-bootstrap 2>/dev/null \
    | sed -n 's/^ *Depends: \([a-z0-9.+-]*\)$/\1/p' \
    | grep -E -- '-java$|^velocity$|^protobuf-compiler-grpc-java-plugin$' | sort -u | tr '\n' ' ')"
  if [ -n "$java_libraries" ]; then
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq -t sid -o Dpkg::Options::=--force-overwrite $java_libraries >/dev/null
  fi
  changed=1
}

major="$(bazel_major_version)"
if [ -n "$major" ] && [ "$major" -ge 7 ]; then
  log "bazel $major found on PATH; nothing to install"
else
  install_debian_bazel
  major="$(bazel_major_version)"
  if [ -z "$major" ] || [ "$major" -lt 7 ]; then
    echo "setup: Bazel >= 7 is still not on PATH after the install; see the apt output above." >&2
    exit 1
  fi
fi

# Debian's offline Bazel maps its packaged modules with --override_module in /etc/bazel/bazelrc;
# the modules it does not package get the stubs under toolchains/offline_modules/.
local_rc="$repo_root/.bazelrc.local"
if [ -f /etc/bazel/bazelrc ] && grep -q -- '--override_module' /etc/bazel/bazelrc; then
  content="# Written by toolchains/setup.sh for Debian's offline Bazel; do not edit, do not commit."
  for stub in "$repo_root"/toolchains/offline_modules/*/; do
    name="$(basename "$stub")"
    content="$content
common --override_module=$name=$repo_root/toolchains/offline_modules/$name"
  done
  # These machines' TLS proxy appends its CA to certifi's cacert.pem inside the fetched pip
  # repositories minutes after the fetch; Bazel then sees a changed input and reruns every action
  # that depends on it (the export of the bundle among them). External repositories change here
  # only through Bazel, so it need not look for other changes.
  # rules_python 1.x: Debian packages 0.22.1 only. A machine that reaches the Bazel Central Registry
  # gets the version MODULE.bazel asks for from there; one that does not uses the copy in
  # ../shared/third_party/rules_python when it has one (a later --override_module wins).
  rules_python_copy="$(cd "$repo_root/.." && pwd)/shared/third_party/rules_python"
  if [ -f "$rules_python_copy/MODULE.bazel" ] && ! bcr_answers; then
    content="$content
common --override_module=rules_python=$rules_python_copy"
  fi
  content="$content
common --noenable_workspace
build --noexperimental_check_external_repository_files"
  write_if_different "$local_rc" "$content"
elif [ -f "$local_rc" ]; then
  log "keeping existing $local_rc (this Bazel is not Debian's offline build)"
fi

if [ "$changed" -eq 0 ]; then
  log "nothing to do"
fi
