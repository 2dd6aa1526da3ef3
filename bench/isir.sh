#!/bin/sh
# isir.sh: ISIR import figures (issue 5), printed as a markdown table and
# written to bench/isir-results.md. Usage: sh bench/isir.sh ABSOLUTE_BUILD_DIR
# (make bench-isir; about a minute, ~1.6 GB of temporary disk).
#
# Starts cairnd on a free loopback port with a fresh database and its
# default definitions (examples/, so the aid_file workflow), then times
# `cairn isir import` as a user runs it (process start to exit, default
# 1 MiB requests of 128 records in 4 streams):
#   - FSA's 78-record test file (../shared/data/isir, when present) into a
#     fresh office, BENCH_RUNS times (each run creates 77 cases), median;
#   - the same file again (every record unchanged);
#   - 100,000 made-up records (cairn isir generate), once, and again
#     (unchanged).
# Targets: the 78-record file in under 100 ms; 100,000 records in under
# 10 s. The temporary directory lives under the build directory (the
# project's disk) unless BENCH_TMPDIR says otherwise.
#
# bench/run.sh (make bench) runs a reduced version: BENCH_ISIR_RECORDS
# sets the generated count, ISIR_RESULTS where the table goes (default
# bench/isir-results.md) and ISIR_KV a file that gets the figures as one
# line of key=value pairs (small_ms, big_records, big_ms, big_per_s,
# big_again_ms, hwm_kb).
set -u

BUILD=${1:-}
case $BUILD in
/*) ;;
*)
	echo "usage: sh bench/isir.sh ABSOLUTE_BUILD_DIR" >&2
	exit 2
	;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

RUNS=${BENCH_RUNS:-5}
COUNT=${BENCH_ISIR_RECORDS:-100000}
ISIR_DATA=${ISIR_DATA:-$ROOT/../shared/data/isir}
[ -d "$ISIR_DATA" ] || ISIR_DATA=/work/shared/data/isir
SMALL="$ISIR_DATA/applications-2025-26-20240918.txt"

for f in cairnd cairn; do
	if [ ! -x "$BUILD/$f" ]; then
		echo "bench: $BUILD/$f is missing; run make" >&2
		exit 1
	fi
done

TMP=$(mktemp -d "${BENCH_TMPDIR:-$BUILD}/bench-isir.XXXXXX") || exit 1
PID=""
BENCH_NAME=bench-isir
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# stops cairnd ($PID) and removes $TMP on any exit
bench_clean_on_exit

start_daemon() {
	_try=0
	while [ "$_try" -lt 5 ]; do
		_try=$((_try + 1))
		_n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
		PORT=$((20000 + _n % 20001))
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"
		[ $? -eq 7 ] || continue
		"$BUILD/cairnd" --listen "127.0.0.1:$PORT" --db "$TMP/cairn.db" --rate-limits off \
			>"$TMP/cairnd.log" 2>&1 &
		PID=$!
		_i=0
		while [ "$_i" -lt 100 ] && alive "$PID"; do
			if curl -fsS --max-time 1 -o /dev/null \
				"http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
				return 0
			fi
			sleep 0.1
			_i=$((_i + 1))
		done
		alive "$PID" && die "cairnd did not answer /healthz in 10 s"
		PID=""
		grep -qi 'in use' "$TMP/cairnd.log" ||
			die "cairnd exited at start-up"
	done
	die "cairnd would not start"
}

now_ns() {
	date +%s%N
}

# Runs one import of file $1 into office $2; prints "ms accepted
# unchanged rejected".
timed_import() {
	_t0=$(now_ns)
	"$BUILD/cairn" --url "http://127.0.0.1:$PORT" isir import "$1" \
		--office "$2" >"$TMP/out.txt" 2>&1
	_t1=$(now_ns)
	head -1 "$TMP/out.txt" | sed -n \
		's/.*: \([0-9]*\) accepted, \([0-9]*\) unchanged, \([0-9]*\) rejected.*/\1 \2 \3/p' |
		awk -v ms="$(((_t1 - _t0) / 1000000))" '{ print ms, $1, $2, $3 }'
}

start_daemon
CAIRN_TOKEN=$(cat "$TMP/admin.token") || die "no admin token"
export CAIRN_TOKEN
echo "bench: cairnd (pid $PID) on 127.0.0.1:$PORT" >&2

SMALL_LINE="n/a"
SMALL_AGAIN="n/a"
if [ -f "$SMALL" ]; then
	: >"$TMP/small.txt"
	i=1
	while [ "$i" -le "$RUNS" ]; do
		set -- $(timed_import "$SMALL" "bench-$i")
		echo "bench: 78-record file, run $i: $1 ms ($2 accepted, $4 rejected)" >&2
		echo "ms=$1 accepted=$2 rejected=$4" >>"$TMP/small.txt"
		i=$((i + 1))
	done
	set -- $(stats "$TMP/small.txt" ms)
	SMALL_LINE="$1 ms ($2-$3), $(values "$TMP/small.txt" accepted | head -1) accepted, $(values "$TMP/small.txt" rejected | head -1) rejected"
	set -- $(timed_import "$SMALL" "bench-1")
	SMALL_AGAIN="$1 ms ($3 unchanged)"
else
	echo "bench: $SMALL is not here: the 78-record figure is skipped" >&2
fi

"$BUILD/cairn" isir generate "$COUNT" >"$TMP/big.txt" || die "generate"
set -- $(timed_import "$TMP/big.txt" bench-big)
BIG="$1 ms ($2 accepted, $4 rejected)"
BIG_RATE=$(awk -v n="$COUNT" -v ms="$1" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
echo "bench: $COUNT records: $BIG" >&2
set -- $(timed_import "$TMP/big.txt" bench-big)
BIG_AGAIN="$1 ms ($3 unchanged)"
echo "bench: again: $BIG_AGAIN" >&2
RSS=$(awk '/VmHWM/ { print $2 }' "/proc/$PID/status")

OUT=${ISIR_RESULTS:-$ROOT/bench/isir-results.md}
{
	echo "| figure | measured | target |"
	echo "| --- | ---: | ---: |"
	echo "| FSA 78-record file, new office (median of $RUNS) | $SMALL_LINE | < 100 ms |"
	echo "| the same file again | $SMALL_AGAIN | |"
	echo "| $COUNT generated records | $BIG; $(num "$BIG_RATE") records/s | < 10 s |"
	echo "| the same records again | $BIG_AGAIN | |"
	echo "| cairnd peak RSS | $(num $((RSS / 1024))) MiB | |"
} >"$OUT"
cat "$OUT"
if [ -n "${ISIR_KV:-}" ]; then
	_small=n/a
	[ -f "$TMP/small.txt" ] && _small=$(stats "$TMP/small.txt" ms | cut -d' ' -f1)
	echo "small_ms=$_small big_records=$COUNT big_ms=${BIG%% *}" \
		"big_per_s=$BIG_RATE big_again_ms=${BIG_AGAIN%% *} hwm_kb=$RSS" \
		>"$ISIR_KV"
fi
kill -TERM "$PID"
wait_gone "$PID" 100 || die "cairnd did not stop"
wait "$PID"
rc=$?
PID=""
[ "$rc" -eq 0 ] || die "cairnd exited $rc after SIGTERM"
