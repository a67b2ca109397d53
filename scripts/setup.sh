#!/usr/bin/env bash
# Installs vinops (building the Rust extension) into .venv, then runs the main job on a generated sample:
# one window loaded into the embedded PostgreSQL (started on demand under the user's data folder, left running;
# `vinops db stop` stops it). A second run finds the file already loaded and skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
mkdir -p .sample
.venv/bin/vinops sample --rows 150000 --seed 1 .sample/salesdata.csv
.venv/bin/vinops ingest .sample/salesdata.csv
