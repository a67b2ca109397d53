#!/usr/bin/env bash
# Installs vinops (building the Rust extension) into .venv, then runs the main job on a generated sample.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
mkdir -p .sample
.venv/bin/vinops sample --rows 150000 --seed 1 .sample/salesdata.csv
.venv/bin/vinops parse .sample/salesdata.csv
