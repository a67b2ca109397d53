#!/usr/bin/env bash
# The cargo-fuzz targets of vinops_core (vinops_core/fuzz): `records` (the record reader and both dialect
# passes) and `reader` (the whole CopartReader, behind the real header half of the time), on stable Rust:
# RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags cargo-fuzz passes (sanitizer, coverage).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET ...]     default: 600 seconds each, records and reader
#
# Installs cargo-fuzz from crates.io when it is missing. A panic, a hang (an input running longer than 10 s)
# or an input using more than 2 GB stops the target with a non-zero exit and the input in
# vinops_core/fuzz/artifacts/<target>/. Prints one line per target: `fuzz <target>: <runs> runs in <s> s, exit <code>`.
set -euo pipefail
cd "$(dirname "$0")/../vinops_core"
seconds="${1:-600}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(records reader)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p ../build/fuzz
status=0
for target in "${targets[@]}"; do
    log="../build/fuzz/$target.log"
    code=0
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        >"$log" 2>&1 || code=$?
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
    runs=$(echo "$done_line" | awk '{print $2}')
    secs=$(echo "$done_line" | awk '{print $5}')
    echo "fuzz $target: ${runs:-?} runs in ${secs:-?} s, exit $code"
    if [ "$code" -ne 0 ]; then
        grep -E 'panicked|ERROR|SUMMARY|ALARM|out-of-memory' "$log" | head -5 || true
        status=1
    fi
done
exit $status
