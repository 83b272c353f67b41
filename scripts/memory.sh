#!/usr/bin/env bash
# Peak memory (RSS) of the sensor's commands on one capture and on the same capture repeated
# N times an hour apart (packet time), each with --records: a long run must stay flat.
#
#   scripts/memory.sh [--no-build] MIX.pcap [N]
#
# The repeated copies are made with editcap (Wireshark's), shifted by 1 h each, and merged
# into one capture with mergecap, in a temporary directory beside the capture.
# PROXY407_BIN overrides the binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=1
if [ "${1:-}" = "--no-build" ]; then
  build=0
  shift
fi
mix="${1:?usage: scripts/memory.sh [--no-build] MIX.pcap [N]}"
n="${2:-8}"
if [ "$build" = 1 ] && [ -z "${PROXY407_BIN:-}" ]; then
  cargo build --release --quiet
fi
bin="${PROXY407_BIN:-${CARGO_TARGET_DIR:-target}/release/proxy407}"
work="$(mktemp -d "$(dirname "$mix")/proxy407-memory.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rep"
for i in $(seq 0 $((n - 1))); do
  editcap -t $((i * 3600)) "$mix" "$work/rep/part-$i.pcap" &
done
wait
# One file, as one long capture (each file read keeps its own read window mapped).
mergecap -w "$work/repeated.pcapng" "$work"/rep/part-*.pcap
rm -rf "$work/rep"

peak() { # label, command...
  local label="$1"
  shift
  rm -rf "$work/out" "$work/rec"
  /usr/bin/time -f "%M %e" -o "$work/time" "$@" >/dev/null 2>"$work/err" || {
    cat "$work/err" >&2
    return 1
  }
  read -r kb secs <"$work/time"
  printf "%-44s %8.1f MB %8.1f s\n" "$label" "$(echo "$kb / 1024" | bc -l)" "$secs"
}

for input in one repeated; do
  if [ "$input" = one ]; then files=("$mix"); what="1 ×"; else files=("$work/repeated.pcapng"); what="$n × an hour apart"; fi
  peak "analyze --records ($what)" "$bin" analyze --quiet --records "$work/rec" "${files[@]}"
  peak "export --format parquet ($what)" "$bin" export --quiet --format parquet --out "$work/out" "${files[@]}"
  peak "dashboard --headless --records ($what)" "$bin" dashboard --headless --max-speed \
    --status-every 1h --records "$work/rec" --records-transactions --out "$work/out" \
    --export-every 10m "${files[@]}"
done
