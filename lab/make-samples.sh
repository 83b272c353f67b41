#!/usr/bin/env bash
# Regenerates samples/: runs every lab scenario into samples/NAME.pcap and writes
# samples/NAME.expected.json and samples/SECRETS.txt from lab/lab.py's tables.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../samples"
mkdir -p "$out"
"$here/run.sh" --out "$out" "$@"
"$here/run.sh" --write-expected "$out"
