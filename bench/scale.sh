#!/bin/sh
# scale.sh: Cairn at scale (issue 3): with 1,000,000 cases stored, the
# latency of GET /v1/cases/{id} and of a page of a status listing, restart
# to ready with 100,000 pending timers, and timer lag. Prints one markdown
# table and writes it to bench/scale-results.md.
# Usage: sh bench/scale.sh ABSOLUTE_BUILD_DIR (make bench-scale).
#
#  1. bench/scale build writes the database through the store's own API
#     (student applications with 4 campus applications each, their history
#     and timers; see bench/scale.c), an admin token and files of ids.
#  2. Restart to ready: starts cairnd on it SCALE_RUNS times, each time from
#     exec to the first 200 of GET /readyz (a durable write), then SIGTERM.
#  3. Reads on the running daemon: GET /v1/cases/{random id} and
#     GET /v1/cases?workflow=campus_application&status=under_review&
#     limit=50&cursor={random id}, at 16 and 64 connections, SCALE_RUNS runs
#     of SCALE_SECS s each after 1 s of warm-up.
#  4. Timer lag, twice: with cairnd stopped, SCALE_NEAR_TIMERS documents_due
#     timers of incomplete campus applications are moved to come due evenly
#     over SCALE_TIMER_WINDOW_MS, starting a few seconds after cairnd will
#     be ready again; cairnd is started, the timers fire
#     (incomplete -> documents_overdue), and the lag is read from
#     cairn_timer_lag_seconds in /metrics (bucket estimate) and, exactly,
#     from each case's history (event time minus due time). The first round
#     runs idle, the second under GET /v1/cases/{id} load at 16 connections.
#
# The temporary directory (database about 1.4 GB per million cases) lives
# under the build directory unless SCALE_TMPDIR says otherwise; it and the
# daemon are removed on any exit.
#
# Environment: SCALE_CASES (1000000), SCALE_TIMERS (100000), SCALE_RUNS (3),
# SCALE_SECS (5), SCALE_NEAR_TIMERS (10000), SCALE_TIMER_WINDOW_MS (5000),
# SCALE_TMPDIR (the build dir), SCALE_STRICT=1 to exit 1 when a target is
# missed.
# `set -- $(stats ...)` below splits three plain words on purpose
# shellcheck disable=SC2046
set -u

BUILD=${1:-}
case $BUILD in
/*) ;;
*)
	echo "usage: sh bench/scale.sh ABSOLUTE_BUILD_DIR" >&2
	exit 2
	;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
# cairnd's default definition directories are relative (examples/...)
cd "$ROOT" || exit 1

CASES=${SCALE_CASES:-1000000}
TIMERS=${SCALE_TIMERS:-100000}
RUNS=${SCALE_RUNS:-3}
SECS=${SCALE_SECS:-5}
NEAR=${SCALE_NEAR_TIMERS:-10000}
WINDOW=${SCALE_TIMER_WINDOW_MS:-5000}
WARM=1
# issue 3, with 1,000,000 cases stored
GET_P99_TARGET_MS=5
LIST_P99_TARGET_MS=20
READY_TARGET_MS=1000
LAG_P99_TARGET_MS=100

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_need scale "make bench-scale" cairnd bench/scale

TMP=$(mktemp -d "${SCALE_TMPDIR:-$BUILD}/scale.XXXXXX") || exit 1
PID=""
BENCH_NAME=scale
LOADPID=""

bench_clean_on_exit

# --- statistics (the rest are in lib.sh) -------------------------------------

# "yes" when $1 <= $2, else "no"
atmost() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a != "n/a" && a != "" && a != "nan" && a + 0 <= b + 0) ? "yes" : "no" }'
}

now_ms() {
	date +%s%3N
}

# --- the daemon -------------------------------------------------------------------

# A port in 20000-40000 that nothing answers on.
pick_port() {
	_try=0
	while [ "$_try" -lt 20 ]; do
		_try=$((_try + 1))
		_n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
		PORT=$((20000 + _n % 20001))
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"
		[ $? -eq 7 ] && return 0
	done
	die "no free port"
}

# Starts cairnd; READY_MS gets the milliseconds from exec to the first
# 200 of GET /readyz.
start_daemon() {
	_t0=$(date +%s%N)
	"$BUILD/cairnd" --listen "127.0.0.1:$PORT" --db "$TMP/cairn.db" --rate-limits off \
		>>"$TMP/cairnd.log" 2>&1 &
	PID=$!
	"$BUILD/bench/scale" ready -u "http://127.0.0.1:$PORT" -z "$_t0" \
		-m 60000 >"$TMP/ready.line" ||
		die "cairnd not ready in 60 s ($(cat "$TMP/ready.line"))"
	alive "$PID" || die "cairnd exited at start-up"
	READY_MS=$(values "$TMP/ready.line" ready_ms)
}

# SIGTERM, and the exit status (or "hung")
stop_daemon() {
	kill -TERM "$PID"
	if wait_gone "$PID" 100; then
		wait "$PID"
		STOP_RC=$?
	else
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
		STOP_RC="hung (killed after 10 s)"
	fi
	PID=""
	[ "$STOP_RC" = 0 ] || die "cairnd did not exit 0 after SIGTERM ($STOP_RC)"
}

URL=""

# --- 1. the database --------------------------------------------------------------

AVAIL_KB=$(df -Pk "$TMP" | awk 'NR == 2 { print $4 }')
NEED_KB=$((CASES * 3 / 2 + 1048576))
[ "$AVAIL_KB" -gt "$NEED_KB" ] ||
	die "$((AVAIL_KB / 1024)) MiB free under $TMP; about $((NEED_KB / 1024)) MiB needed"

echo "scale: building $CASES cases with $TIMERS timers in $TMP" >&2
BUILD_LINE=$("$BUILD/bench/scale" build -o "$TMP" -n "$CASES" -t "$TIMERS" \
	-r "$ROOT") || die "the build failed: $BUILD_LINE"
echo "scale: $BUILD_LINE" >&2
echo "$BUILD_LINE" >"$TMP/build.txt"
B_CASES=$(values "$TMP/build.txt" cases)
B_HIST=$(values "$TMP/build.txt" history)
B_TIMERS=$(values "$TMP/build.txt" timers)
B_SECS=$(values "$TMP/build.txt" build_s)
B_BYTES=$(values "$TMP/build.txt" db_bytes)
B_UR=$(values "$TMP/build.txt" under_review)
echo "scale: disk: $(df -h "$TMP" | awk 'NR == 2 { print $4 " free of " $2 }')" >&2

# --- 2. restart to ready -------------------------------------------------------------

pick_port
URL="http://127.0.0.1:$PORT"
: >"$TMP/ready.txt"
i=1
while [ "$i" -le "$RUNS" ]; do
	[ -n "$PID" ] && stop_daemon
	start_daemon
	echo "ready_ms=$READY_MS" >>"$TMP/ready.txt"
	echo "scale: restart $i/$RUNS: ready in $READY_MS ms" >&2
	i=$((i + 1))
done
grep -q '"new version' "$TMP/cairnd.log" &&
	echo "scale: warning: cairnd recorded a new workflow version" >&2

# --- 3. reads -------------------------------------------------------------------------

for conns in 16 64; do
	for mode in get list; do
		f="$TMP/$mode-$conns.txt"
		: >"$f"
		i=1
		while [ "$i" -le "$RUNS" ]; do
			line=$("$BUILD/bench/scale" load -m "$mode" -c "$conns" \
				-d "$SECS" -w "$WARM" -T "$TMP/admin.token" \
				-f "$TMP/ids.txt" "$URL") ||
				die "load $mode $conns run $i failed: $line"
			echo "scale: $mode c=$conns $i/$RUNS: $line" >&2
			echo "$line" >>"$f"
			alive "$PID" || die "cairnd died during the load"
			i=$((i + 1))
		done
	done
done

# --- 4. timer lag -----------------------------------------------------------------------

set -- $(stats "$TMP/ready.txt" ready_ms)
READY_MAX=$3
# the first timer comes due well after cairnd is ready again (the timers
# step itself opens the store, which reads the file once)
AFTER=$(awk -v r="$READY_MAX" 'BEGIN { printf "%d", 2 * r + 3000 }')

# lag_round NAME SKIP LOAD(0|1)
lag_round() {
	stop_daemon
	"$BUILD/bench/scale" timers -o "$TMP" -n "$NEAR" -a "$AFTER" \
		-w "$WINDOW" -k "$2" >"$TMP/timers.line" ||
		die "moving the timers failed"
	_first=$(values "$TMP/timers.line" first_due_ms)
	start_daemon
	echo "scale: lag $1: cairnd ready in $READY_MS ms; $NEAR timers due" \
		"from $((_first - $(now_ms))) ms from now over $WINDOW ms" >&2
	_end=$((_first + WINDOW))
	if [ "$3" = 1 ]; then
		_d=$(awk -v e="$_end" -v n="$(now_ms)" 'BEGIN { printf "%.1f", (e - n) / 1000 + 1 }')
		"$BUILD/bench/scale" load -m get -c 16 -d "$_d" \
			-T "$TMP/admin.token" -f "$TMP/ids.txt" "$URL" \
			>"$TMP/lagload-$1.txt" 2>&1 &
		LOADPID=$!
	fi
	# wait until every timer has been picked up (30 s after the last due
	# at most)
	while :; do
		"$BUILD/bench/scale" lag "$URL" >"$TMP/lag.line" 2>/dev/null
		_n=$(values "$TMP/lag.line" lag_count)
		[ "${_n:-0}" -ge "$NEAR" ] && break
		[ "$(now_ms)" -gt $((_end + 30000)) ] && break
		sleep 0.5
	done
	if [ -n "$LOADPID" ]; then
		wait "$LOADPID" ||
			die "the load during the timers failed: $(cat "$TMP/lagload-$1.txt")"
		LOADPID=""
		echo "scale: lag $1: load: $(cat "$TMP/lagload-$1.txt")" >&2
	fi
	# the last commits land a little after the last scan
	sleep 1
	"$BUILD/bench/scale" lag "$URL" >"$TMP/lag-$1.txt" ||
		die "reading /metrics failed"
	"$BUILD/bench/scale" verify -T "$TMP/admin.token" -f "$TMP/near.txt" \
		"$URL" >"$TMP/verify-$1.txt"
	echo "scale: lag $1: $(cat "$TMP/lag-$1.txt")" >&2
	echo "scale: lag $1: $(cat "$TMP/verify-$1.txt")" >&2
}

lag_round idle 0 0
lag_round load "$NEAR" 1

RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status")
HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
stop_daemon

# --- report ---------------------------------------------------------------------------------

set -- $(stats "$TMP/ready.txt" ready_ms)
R_MED=$1 R_MIN=$2 R_MAX=$3
R_MET=$(atmost "$R_MED" "$READY_TARGET_MS")

# row FILE LABEL TARGET_MS: the p50, p99 and throughput rows of one load
row() {
	set -- "$1" "$2" "$3" $(stats "$1" p50_us) $(stats "$1" p99_us) \
		$(stats "$1" rps)
	_p99m=$(ms "$7")
	echo "| $2, p50 (ms) | $(num "$(ms "$4")" 2) |" \
		"$(num "$(ms "$5")" 2)–$(num "$(ms "$6")" 2) | — | — |"
	echo "| $2, p99 (ms) | $(num "$_p99m" 2) |" \
		"$(num "$(ms "$8")" 2)–$(num "$(ms "$9")" 2) | ≤ $3 |" \
		"$(atmost "$_p99m" "$3") |"
	echo "| $2, throughput (req/s) | $(num "${10}") |" \
		"$(num "${11}")–$(num "${12}") | — | — |"
}

BAD=0
for f in "$TMP"/get-*.txt "$TMP"/list-*.txt; do
	BAD=$((BAD + $(total "$f" errors non2xx)))
done

# lagrow NAME LABEL
lagrow() {
	_f="$TMP/lag-$1.txt" _v="$TMP/verify-$1.txt"
	_mp50=$(values "$_f" lag_p50_ms)
	_mp99=$(values "$_f" lag_p99_ms)
	_mb=$(values "$_f" lag_p99_bucket_le_ms)
	_ep50=$(values "$_v" event_lag_p50_ms)
	_ep99=$(values "$_v" event_lag_p99_ms)
	_emax=$(values "$_v" event_lag_max_ms)
	_mv=$(values "$_v" moved)
	_n=$(values "$_v" cases)
	echo "| timer lag $2, p50, /metrics estimate (ms) | $(num "$_mp50" 1) |" \
		"— | — | — |"
	echo "| timer lag $2, p99, /metrics estimate (ms; bucket ≤ $_mb) |" \
		"$(num "$_mp99" 1) | — | ≤ $LAG_P99_TARGET_MS |" \
		"$(atmost "$_mp99" "$LAG_P99_TARGET_MS") |"
	echo "| timer lag $2, due → transition recorded, p50 / p99 / max (ms)" \
		"| $_ep50 / $_ep99 / $_emax | — | — | — |"
	echo "| cases moved to documents_overdue by those timers |" \
		"$(num "${_mv:-0}") of $(num "${_n:-0}") | — | all |" \
		"$([ "${_mv:-0}" = "${_n:-x}" ] && echo yes || echo no) |"
}

CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
[ -n "$CPU" ] || CPU=$(uname -m)
FS=$(df -PT "$TMP" 2>/dev/null | awk 'NR == 2 { print $2 " on " $1 }')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ] &&
	REV="$REV (with uncommitted changes)"

OUT="$TMP/scale-results.md"
{
	echo "# Cairn at scale"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) CPU(s), $CPU; $(uname -sr)"
	echo "- database disk: ${FS:-unknown}"
	echo "- revision: $REV"
	echo "- data: $(num "$B_CASES") cases (student_application parents with" \
		"4 campus_application children each; $(num "$B_UR") children" \
		"under review), $(num "$B_HIST") history rows, $(num "$B_TIMERS")" \
		"pending timers (documents_due, sir_deadline, appeal_window, all" \
		"in the future), written by bench/scale through the store's API" \
		"in $B_SECS s: $(num "$B_BYTES") bytes"
	echo "- restart: exec of cairnd to the first 200 of GET /readyz (a" \
		"durable write), OS page cache warm, $RUNS start(s)"
	echo "- reads: $RUNS runs of ${SECS} s after ${WARM} s warm-up," \
		"keep-alive, one request in flight per connection, admin token," \
		"closed loop (latency includes queueing behind the other" \
		"connections); each request names a random id from a uniform" \
		"sample of $(num "$(wc -l <"$TMP/ids.txt")") of the cases" \
		"(parents and children); the listing is" \
		"workflow=campus_application&status=under_review&limit=50&cursor=<random id>"
	echo "- timer lag: $(num "$NEAR") documents_due timers moved to come due" \
		"evenly over $WINDOW ms and fired by a freshly started cairnd" \
		"(incomplete → documents_overdue); the /metrics figures are" \
		"estimated from the cairn_timer_lag_seconds buckets (due time to" \
		"the scan that picks the timer up); the exact ones come from each" \
		"case's history (due time to the engine running the event)"
	echo
	echo "| figure | median | range (min–max) | target | met? |"
	echo "|---|---:|---:|---:|---|"
	echo "| database built through the store's API: cases / seconds /" \
		"MiB | $(num "$B_CASES") / $B_SECS /" \
		"$(num "$(awk -v b="$B_BYTES" 'BEGIN { print b / 1048576 }')") |" \
		"— | — | — |"
	echo "| restart to ready, $(num "$B_TIMERS") pending timers (ms) |" \
		"$(num "$R_MED") | $(num "$R_MIN")–$(num "$R_MAX") |" \
		"≤ $(num $READY_TARGET_MS) | $R_MET |"
	row "$TMP/get-16.txt" "GET /v1/cases/{id}, 16 connections" \
		"$GET_P99_TARGET_MS"
	row "$TMP/get-64.txt" "GET /v1/cases/{id}, 64 connections" \
		"$GET_P99_TARGET_MS"
	row "$TMP/list-16.txt" "status listing page (50), 16 connections" \
		"$LIST_P99_TARGET_MS"
	row "$TMP/list-64.txt" "status listing page (50), 64 connections" \
		"$LIST_P99_TARGET_MS"
	echo "| read errors + non-2xx, all runs | $BAD | — | 0 |" \
		"$([ "$BAD" -eq 0 ] && echo yes || echo no) |"
	lagrow idle "(idle)"
	lagrow load "(under GET load, 16 connections)"
	echo "| cairnd VmRSS / VmHWM at the end (KiB) | $(num "$RSS") /" \
		"$(num "$HWM") | — | — | — |"
	echo "| cairnd exit status after SIGTERM, every stop | 0 | — | 0 | yes |"
} >"$OUT"

echo
cat "$OUT"
mv "$OUT" "$ROOT/bench/scale-results.md" ||
	echo "scale: could not write bench/scale-results.md" >&2

if [ "${SCALE_STRICT:-0}" = 1 ] &&
	grep -q '| no |$' "$ROOT/bench/scale-results.md"; then
	echo "scale: a target was missed" >&2
	exit 1
fi
exit 0
