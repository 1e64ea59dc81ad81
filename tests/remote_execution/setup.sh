#!/usr/bin/env bash
# Installs what tests/remote_execution/run_buildgrid.py needs on a Debian machine (as root):
#
# 1. Debian's `buildbox` (buildbox-casd, buildbox-worker, buildbox-run-hosttools) from Debian
#    unstable, through the apt source and pin that toolchains/setup.sh writes for Bazel (it must
#    have run first when Bazel came from Debian; otherwise this script adds the same source).
# 2. Debian's `postgresql` (BuildGrid 0.4.4's scheduler accepts only PostgreSQL).
# 3. A virtual environment with BuildGrid from PyPI (default ~/.cache/rules_iree_llm/buildgrid-venv, or $BGVENV), apart from
#    the project's pip hub: BuildGrid is a tool of this test, not a dependency of the module.
#
# Idempotent: what is present is kept.
set -euo pipefail

bgvenv="${BGVENV:-$HOME/.cache/rules_iree_llm/buildgrid-venv}"
log() { printf 'remote_execution/setup: %s\n' "$*"; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! command -v buildbox-worker >/dev/null || ! command -v buildbox-casd >/dev/null \
  || ! command -v buildbox-run-hosttools >/dev/null; then
  if [ ! -f /etc/apt/sources.list.d/rules-iree-llm-sid.sources ]; then
    log "no Debian unstable source yet: run toolchains/setup.sh's apt part, or add 'sid' to apt yourself"
    uri="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    [ -n "$uri" ] || { echo "remote_execution/setup: cannot read the Debian archive URI" >&2; exit 1; }
    printf 'Types: deb\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\nCheck-Valid-Until: no\n' "$uri" \
      | $sudo tee /etc/apt/sources.list.d/rules-iree-llm-sid.sources >/dev/null
    printf 'Package: *\nPin: release n=sid\nPin-Priority: 100\n' | $sudo tee /etc/apt/preferences.d/rules-iree-llm-sid >/dev/null
    $sudo apt-get update -qq
  fi
  log "installing buildbox from Debian unstable"
  $sudo apt-get install -y -qq -t sid buildbox >/dev/null
else
  log "buildbox present"
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
  log "installing postgresql"
  $sudo apt-get install -y -qq postgresql >/dev/null
else
  log "postgresql present"
fi

if [ ! -x "$bgvenv/bin/bgd" ]; then
  log "creating $bgvenv with BuildGrid"
  python3 -m venv "$bgvenv"
  # psycopg2 for BuildGrid's LISTEN/NOTIFY, psycopg 3 for the rest of its SQL code.
  "$bgvenv/bin/pip" install -q 'buildgrid==0.4.4' psycopg2-binary 'psycopg[binary]'
else
  log "BuildGrid present in $bgvenv"
fi
log "done; run: python3 tests/remote_execution/run_buildgrid.py"
