#!/usr/bin/env bash
# Sets up everything the tests need, then runs them: a virtual environment with
# requirements-dev.txt (pytest, pytest-randomly, playwright), Debian's Chromium for the
# browser test (when root and missing), and MNIST from $VAEIMB_DATA_DIR (default:
# ../shared/data/mnist). Extra arguments go to pytest. The order of the tests is random on
# every run; the seed is printed at the end (replay: -p randomly --randomly-seed=N).
# Under CI=true a missing Chromium or playwright fails the run instead of skipping the
# browser test. Tests write only to temporary folders and test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM="${VAEIMB_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's chromium for the browser test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  elif [ -n "${CI:-}" ]; then
    echo "error: $CHROMIUM missing and not root: install Debian's chromium (the browser test must run in CI)" >&2
    exit 1
  else
    echo "== $CHROMIUM missing and not root: the browser test will be skipped"
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
echo "== installing requirements-dev.txt"
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
.venv/bin/python -c "import pytest, pytest_randomly, playwright.sync_api" \
  || { echo "error: the test tools did not install (see pip's output above)" >&2; exit 1; }

if [ -z "${VAEIMB_DATA_DIR:-}" ] && [ -d ../shared/data/mnist ]; then
  export VAEIMB_DATA_DIR="$(cd ../shared/data/mnist && pwd)"
fi
echo "== VAEIMB_DATA_DIR=${VAEIMB_DATA_DIR:-<unset: MNIST tests will skip>}"
# Keep test runs away from the user's real caches (results; decoded MNIST and code digests
# under $XDG_CACHE_HOME/vaeimb); what is made here is removed after.
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
if [ -z "${VAEIMB_CACHE_DIR:-}" ]; then
  export VAEIMB_CACHE_DIR="$SCRATCH/results"
fi
export XDG_CACHE_HOME="$SCRATCH/xdg"
export MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1

echo "== pytest"
.venv/bin/python -m pytest "$@"
