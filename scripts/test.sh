#!/usr/bin/env bash
# Sets up everything the tests need, then runs them: a virtual environment with
# requirements-dev.txt, Debian's Chromium for the browser test (when root and missing),
# and MNIST from $VAEIMB_DATA_DIR (default: ../shared/data/mnist). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's chromium for the browser test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "== /usr/bin/chromium missing and not root: the browser test will be skipped"
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
echo "== installing requirements-dev.txt"
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

if [ -z "${VAEIMB_DATA_DIR:-}" ] && [ -d ../shared/data/mnist ]; then
  export VAEIMB_DATA_DIR="$(cd ../shared/data/mnist && pwd)"
fi
echo "== VAEIMB_DATA_DIR=${VAEIMB_DATA_DIR:-<unset: MNIST tests will skip>}"
# Keep test runs away from the user's real result cache.
export VAEIMB_CACHE_DIR="${VAEIMB_CACHE_DIR:-$(mktemp -d)}"
export MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1

echo "== pytest"
exec .venv/bin/python -m pytest "$@"
