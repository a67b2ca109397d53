#!/usr/bin/env bash
# Installs what the tests need into .venv and runs every test: the Rust crate's, then pytest, then the wheel
# check (the built wheel installed into a fresh environment, its commands run outside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# The health page's test drives headless Chromium (Debian's package); install it on a fresh machine.
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update && $sudo apt-get install -y --no-install-recommends chromium
fi
cargo test --quiet --workspace
# CI=true selects the hypothesis "ci" profile (at least 2,000 examples per property).
.venv/bin/python -m pytest "$@"
bash scripts/wheel_check.sh
