#!/usr/bin/env bash
# Whole-process benchmark of proxy407 against cat and tshark on one capture.
#
#   scripts/bench.sh [--skip-tshark] [--tshark-limit MB] [--runs N] [--no-double]
#                    [--no-build] [--cpu N|none] [FILE]
#
# Without FILE, generates /var/tmp/proxy407-mix-1g.pcap (1 GB) with gen-mix, the test kit's
# mix generator (once; an existing file is reused). Builds the release binaries, then measures on the same file:
#   cat FILE > /dev/null                              (the disk / page-cache ceiling)
#   proxy407 analyze FILE --json --quiet --threads 1
#   proxy407 analyze FILE --json --quiet --threads 1 and --threads $(nproc), back to back in
#                                                     one hyperfine run, not pinned: the ratio
#   proxy407 export FILE --out DIR --format parquet --threads 1 (when the binary has `export`)
#   tshark -n -r FILE -Y 'http.response.code == 407'  (or its first MB with --tshark-limit,
#                                                      extrapolated and labelled so)
# Each: median and fastest wall time of N runs (hyperfine when installed, else
# /usr/bin/time), MB/s and packets/s of the median, and peak RSS (/usr/bin/time -v "Maximum
# resident set size", one extra run). Every command but the threads' runs pinned to one core
# (taskset -c N, default 0; --cpu none to not pin): the figures are one core's.
# Then analyze once more on the file followed by itself a day later (editcap -t, mergecap -a:
# the same traffic again, not the same moments twice), to show that
# peak RSS does not grow with the input. Prints a markdown table.
#
# Environment: CARGO_TARGET_DIR (default ./target), BENCH_TMP (default /var/tmp);
# PROXY407_BIN and GEN_MIX_BIN use given binaries (with --no-build: no cargo at all).
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

SKIP_TSHARK=0
TSHARK_LIMIT_MB=0
RUNS=3
DOUBLE=1
BUILD=1
CPU=0
FILE=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --skip-tshark) SKIP_TSHARK=1 ;;
        --tshark-limit) TSHARK_LIMIT_MB="${2:?--tshark-limit needs a number of MB}"; shift ;;
        --tshark-limit=*) TSHARK_LIMIT_MB="${1#*=}" ;;
        --runs) RUNS="${2:?--runs needs a number}"; shift ;;
        --no-double) DOUBLE=0 ;;
        --no-build) BUILD=0 ;;
        --cpu) CPU="${2:?--cpu needs a core number or none}"; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) FILE="$1" ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
TMPBASE="${BENCH_TMP:-/var/tmp}"
WORK="$(mktemp -d "$TMPBASE/proxy407-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench.sh: $1 is not installed ($2)" >&2; exit 3; }; }
need capinfos "apt-get install tshark"
[[ -x /usr/bin/time ]] || { echo "bench.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 3; }
HAVE_HYPERFINE=0
command -v hyperfine >/dev/null 2>&1 && HAVE_HYPERFINE=1
PIN=()
if [[ "$CPU" != none ]]; then
    need taskset "apt-get install util-linux"
    PIN=(taskset -c "$CPU")
fi

if [[ $BUILD == 1 ]]; then
    echo "== building release binaries" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin proxy407 \
        && cargo build --release --quiet -p proxy407-testkit --bin gen-mix)
fi
P407="${PROXY407_BIN:-$TARGET/release/proxy407}"
GEN="${GEN_MIX_BIN:-$TARGET/release/gen-mix}"
[[ -x "$P407" ]] || { echo "bench.sh: no proxy407 binary at $P407" >&2; exit 3; }

if [[ -z "$FILE" ]]; then
    FILE="$TMPBASE/proxy407-mix-1g.pcap"
    if [[ ! -s "$FILE" ]]; then
        echo "== generating $FILE (1 GB)" >&2
        "$GEN" --size 1GB --out "$FILE" | tee "$WORK/truth.txt" >&2
    fi
fi
[[ -r "$FILE" ]] || { echo "bench.sh: cannot read $FILE" >&2; exit 3; }

BYTES=$(stat -c %s "$FILE")
MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
PACKETS=$(capinfos -c -M -T "$FILE" | awk -F'\t' 'NR == 2 { print $2 }')
echo "== $FILE: $MB MB, $PACKETS packets" >&2

# "median fastest" wall seconds of RUNS runs of "$@" on the pinned core (stdout discarded)
median_secs() {
    if [[ $HAVE_HYPERFINE == 1 ]]; then
        local cmd
        cmd="$(printf '%q ' "${PIN[@]}" "$@")"
        hyperfine --style none --runs "$RUNS" --export-json "$WORK/hf.json" \
            "$cmd > /dev/null" >/dev/null 2>&1
        python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["results"][0]; print("%.3f %.3f" % (r["median"], r["min"]))' "$WORK/hf.json"
    else
        local i
        for ((i = 0; i < RUNS; i++)); do
            /usr/bin/time -f '%e' -o "$WORK/t" "${PIN[@]}" "$@" >/dev/null 2>/dev/null
            cat "$WORK/t"
        done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)], a[1] }'
    fi
}

# peak RSS in MB of one run of "$@"
peak_rss_mb() {
    /usr/bin/time -v -o "$WORK/v" "${PIN[@]}" "$@" >/dev/null 2>/dev/null || true
    awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$WORK/v"
}

ROWS=()
row() { # name "median [fastest]" rss_mb mb packets note
    local med best mbs pps
    read -r med best <<<"$2"
    best="${best:-–}"
    mbs=$(awk -v m="$4" -v s="$med" 'BEGIN { printf "%.0f", (s > 0 ? m / s : 0) }')
    pps=$(awk -v p="$5" -v s="$med" 'BEGIN { printf "%.2f M", (s > 0 ? p / s / 1e6 : 0) }')
    ROWS+=("| $1 | $med | $best | $mbs | $pps | $3 | $6 |")
}

echo "== cat" >&2
S=$(median_secs cat "$FILE")
row '`cat FILE > /dev/null`' "$S" "$(peak_rss_mb cat "$FILE")" "$MB" "$PACKETS" ""

echo "== proxy407 analyze" >&2
S=$(median_secs "$P407" analyze "$FILE" --json --quiet --threads 1)
"$P407" analyze "$FILE" --json --quiet >"$WORK/analyze.json" 2>"$WORK/analyze.err" || true
NOTE=""
if ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/analyze.json" 2>/dev/null; then
    NOTE="output was not JSON"
else
    NOTE=$(python3 - "$WORK/analyze.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
c, h, e = d.get("capture", {}), d.get("http", {}), d.get("episodes", {})
parts = [f"{c.get('packets', '?')} packets", f"407s {h.get('responses_407', '?')}"]
if e:
    parts.append(f"episodes {e.get('total', '?')}")
print(", ".join(parts))
EOF
)
fi
row '`proxy407 analyze --json --threads 1`' "$S" "$(peak_rss_mb "$P407" analyze "$FILE" --json --quiet --threads 1)" "$MB" "$PACKETS" "$NOTE"

# Threads: one thread and every core, measured back to back in one hyperfine run, neither
# pinned (the ratio is the figure; the machine's speed moves between minutes).
NCPU=$(nproc)
if [[ $HAVE_HYPERFINE == 1 && $NCPU -gt 1 ]]; then
    echo "== proxy407 analyze, 1 thread against $NCPU" >&2
    hyperfine --style none --runs "$RUNS" --export-json "$WORK/threads.json" \
        "$P407 analyze $FILE --json --quiet --threads 1 > /dev/null" \
        "$P407 analyze $FILE --json --quiet --threads $NCPU > /dev/null" >/dev/null 2>&1
    read -r T1 TN T1BEST TNBEST < <(python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["results"]; print("%.3f %.3f %.3f %.3f" % (r[0]["median"], r[1]["median"], r[0]["min"], r[1]["min"]))' "$WORK/threads.json")
    RATIO=$(awk -v a="$T1" -v b="$TN" 'BEGIN { printf "%.2f", a / b }')
    row "\`proxy407 analyze --json --threads $NCPU\` (not pinned)" "$TN $TNBEST" "$(/usr/bin/time -v -o "$WORK/vt" "$P407" analyze "$FILE" --json --quiet --threads "$NCPU" >/dev/null 2>&1; awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$WORK/vt")" "$MB" "$PACKETS" "${RATIO}× the speed of --threads 1 in the same run ($T1 s, not pinned)"
fi

if "$P407" --help 2>/dev/null | grep -qE '^\s+export\b'; then
    echo "== proxy407 export parquet" >&2
    EXP="$WORK/export"
    S=$(median_secs bash -c 'rm -rf "$1" && exec "$2" export "$3" --out "$1" --format parquet --quiet --threads 1' _ "$EXP" "$P407" "$FILE")
    rm -rf "$EXP"
    RSS=$(peak_rss_mb "$P407" export "$FILE" --out "$EXP" --format parquet --quiet --threads 1)
    row '`proxy407 export --format parquet --threads 1`' "$S" "$RSS" "$MB" "$PACKETS" "$(du -sh "$EXP" 2>/dev/null | cut -f1) written"
else
    ROWS+=("| \`proxy407 export --format parquet\` | – | – | – | – | – | skipped: this binary has no export subcommand |")
fi

if [[ $SKIP_TSHARK == 1 ]]; then
    ROWS+=("| \`tshark -Y 'http.response.code == 407'\` | – | – | – | – | – | skipped (--skip-tshark) |")
else
    need tshark "apt-get install tshark"
    TFILE="$FILE"
    TMB="$MB"
    TPACKETS="$PACKETS"
    LABEL=""
    if [[ "$TSHARK_LIMIT_MB" != 0 ]]; then
        # The first N MB, cut at a packet boundary (editcap -r by packet count).
        need editcap "apt-get install tshark"
        CUT_PKTS=$(awk -v p="$PACKETS" -v n="$TSHARK_LIMIT_MB" -v m="$MB" 'BEGIN { c = int(p * n / m); if (c < 1) c = 1; if (c > p) c = p; print c }')
        TFILE="$WORK/head.pcap"
        editcap -r "$FILE" "$TFILE" "1-$CUT_PKTS"
        TMB=$(awk -v b="$(stat -c %s "$TFILE")" 'BEGIN { printf "%.1f", b / 1e6 }')
        TPACKETS="$CUT_PKTS"
        LABEL="measured on the first $TMB MB ($TPACKETS packets); time extrapolated ×$(awk -v a="$MB" -v b="$TMB" 'BEGIN { printf "%.1f", a / b }') to the whole file"
    fi
    echo "== tshark on $TMB MB" >&2
    T407=$(tshark -n -r "$TFILE" -Y 'http.response.code == 407' 2>"$WORK/tshark.err" | wc -l)
    TRUNS=$RUNS
    [[ "$TSHARK_LIMIT_MB" == 0 ]] && TRUNS=1 # minutes per run on a whole large file
    RUNS_SAVED=$RUNS; RUNS=$TRUNS
    S=$(median_secs tshark -n -r "$TFILE" -Y 'http.response.code == 407')
    RUNS=$RUNS_SAVED
    RSS=$(peak_rss_mb tshark -n -r "$TFILE" -Y 'http.response.code == 407')
    if [[ -n "$LABEL" ]]; then
        S=$(awk -v s="$S" -v a="$MB" -v b="$TMB" 'BEGIN { split(s, t, " "); printf "%.3f %.3f", t[1] * a / b, t[2] * a / b }')
        LABEL="$LABEL; $T407 × 407 in the part; RSS of the part"
        row "\`tshark -Y 'http.response.code == 407'\` (extrapolated)" "$S" "$RSS" "$MB" "$PACKETS" "$LABEL"
    else
        LABEL="$T407 × 407; 1 run"
        [[ -s "$WORK/tshark.err" ]] && LABEL="$LABEL; stderr: $(head -c 120 "$WORK/tshark.err" | tr '\n' ' ')"
        row "\`tshark -Y 'http.response.code == 407'\`" "$S" "$RSS" "$MB" "$PACKETS" "$LABEL"
    fi
fi

DOUBLE_LINE=""
if [[ $DOUBLE == 1 ]]; then
    need mergecap "apt-get install tshark"
    need editcap "apt-get install tshark"
    echo "== analyze on the file, then the file again a day later" >&2
    D="$WORK/double.pcap"
    editcap -F pcap -t 86400 "$FILE" "$WORK/later.pcap"
    mergecap -a -F pcap -w "$D" "$FILE" "$WORK/later.pcap"
    rm -f "$WORK/later.pcap"
    DMB=$(awk -v b="$(stat -c %s "$D")" 'BEGIN { printf "%.1f", b / 1e6 }')
    /usr/bin/time -v -o "$WORK/v2" "${PIN[@]}" "$P407" analyze "$D" --json --quiet --threads 1 >/dev/null 2>&1 || true
    DS=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; printf "%.3f", s }' "$WORK/v2")
    DRSS=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$WORK/v2")
    row "\`proxy407 analyze --json\` on the file, then again a day later" "$DS" "$DRSS" "$DMB" "$((PACKETS * 2))" "editcap -t 86400, mergecap -a; 1 run"
    rm -f "$D"
fi

HOST="$(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo
PINNED="not pinned"
[[ "$CPU" != none ]] && PINNED="pinned to core $CPU (taskset)"
echo "Input: \`$FILE\`, $MB MB, $PACKETS packets. Host: $HOST; every command $PINNED. Median and fastest of $RUNS runs$([[ $HAVE_HYPERFINE == 1 ]] && echo ' (hyperfine)' || echo ' (/usr/bin/time)'); MB/s and packets/s of the median; peak RSS from \`/usr/bin/time -v\`."
echo
echo "| command | median s | fastest s | MB/s | packets/s | peak RSS MB | note |"
echo "|---|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
[[ -f "$WORK/truth.txt" ]] && { echo; echo '```'; cat "$WORK/truth.txt"; echo '```'; }
exit 0
