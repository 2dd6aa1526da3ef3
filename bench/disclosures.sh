#!/bin/sh
# disclosures.sh: what the disclosure log costs a read. Usage:
#   sh bench/disclosures.sh ABSOLUTE_BUILD_DIR [BEFORE_BUILD_DIR BEFORE_SOURCE_DIR]
#
# Starts cairnd (its default definitions, examples/) on a free loopback
# port with a fresh database, opens one student_application case, and
# drives with bench/loadgen, BENCH_RUNS (3) times BENCH_SECS (5) seconds
# at BENCH_CONNS (16) connections each:
#   - GET /v1/cases/{id}: a read of a student's record, answered only once
#     its disclosure row is committed (group-committed with the others, at
#     synchronous=NORMAL, the WAL fsynced within 100 ms: docs/security.md);
#   - GET /v1/whoami: authenticated, no record, nothing written.
# With a second build directory (a build of another revision: the one
# before the log, or before a change to how its rows commit) and its
# source tree (whose examples/ that cairnd loads), the same runs against
# it, for an A/B on one machine. Rate limits are off (--rate-limits off)
# and a run with any reply other than 2xx stops the bench. Prints a markdown
# table of medians (and ranges); a noisy machine makes them indicative.
set -u

BUILD=${1:-}
BEFORE=${2:-}
BEFORE_SRC=${3:-}
case $BUILD in
/*) ;;
*)
	echo "usage: sh bench/disclosures.sh ABSOLUTE_BUILD_DIR [BEFORE_BUILD BEFORE_SRC]" >&2
	exit 2
	;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-5}
CONNS=${BENCH_CONNS:-16}
LOADGEN=$BUILD/bench/loadgen
[ -x "$LOADGEN" ] || {
	echo "bench: $LOADGEN is missing; run make bench first" >&2
	exit 1
}

TMP=$(mktemp -d "${BENCH_TMPDIR:-$BUILD}/bench-disclosures.XXXXXX") || exit 1
PID=""
BENCH_NAME=bench-disclosures
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_clean_on_exit

# Starts cairnd from build dir $1 on a fresh database in $TMP/$2, in
# source tree $3 (its examples/ are the definitions).
start_daemon() {
	mkdir -p "$TMP/$2"
	_try=0
	while [ "$_try" -lt 5 ]; do
		_try=$((_try + 1))
		_n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
		PORT=$((20000 + _n % 20001))
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"
		[ $? -eq 7 ] || continue
		(cd "$3" && exec "$1/cairnd" --listen "127.0.0.1:$PORT" \
			--rate-limits off \
			--db "$TMP/$2/cairn.db") >"$TMP/$2/cairnd.log" 2>&1 &
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
	done
	die "cairnd would not start"
}

stop_daemon() {
	kill -TERM "$PID" 2>/dev/null
	wait_gone "$PID" 100 || die "cairnd did not stop"
	PID=""
}

# Drives path $2 on the daemon started from $1; appends loadgen's lines
# to $TMP/$3.
drive() {
	_i=1
	while [ "$_i" -le "$RUNS" ]; do
		"$LOADGEN" -c "$CONNS" -d "$SECS" -w 1 \
			-H "Authorization: Bearer $TOKEN" \
			"http://127.0.0.1:$PORT$2" >>"$TMP/$3" ||
			die "loadgen failed on $2"
		# a refused read (429, 503) is not a read: the figures would
		# measure the refusal
		tail -n 1 "$TMP/$3" | grep -q ' non2xx=0 ' ||
			die "non-2xx replies on $2: $(tail -n 1 "$TMP/$3")"
		_i=$((_i + 1))
	done
}

# One build ($1, named $2, run in source tree $3): prints the stats of
# both routes and the disclosure rows written.
measure() {
	start_daemon "$1" "$2" "$3"
	TOKEN=$(cat "$TMP/$2/admin.token") || die "no admin token"
	ID=$(curl -fsS -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' \
		-d '{"workflow":"student_application","subject":"S-bench","data":{"campuses":["uc-davis"]}}' \
		"http://127.0.0.1:$PORT/v1/cases" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
	[ -n "$ID" ] || die "could not open a case"
	drive "$1" "/v1/cases/$ID" "$2.case"
	drive "$1" "/v1/whoami" "$2.whoami"
	stop_daemon
	ROWS=$(sqlite3 "$TMP/$2/cairn.db" \
		"SELECT count(*) FROM disclosures" 2>/dev/null || echo n/a)
	set -- $(stats "$TMP/$2.case" rps) $(stats "$TMP/$2.case" p99_us) \
		$(stats "$TMP/$2.whoami" rps) $(stats "$TMP/$2.whoami" p99_us)
	echo "$1 $2 $3 $4 $5 $6 $7 $8 $9 ${10} ${11} ${12} $ROWS"
}

row() {
	echo "| $1 | $(num "$2") ($(num "$3")–$(num "$4")) | $(num "$5" 0) | $(num "$8") | $(num "${11}" 0) | ${14} |"
}

echo "bench: $RUNS runs of $SECS s at $CONNS connections each" >&2
AFTER_LINE=$(measure "$BUILD" after "$ROOT") || exit 1
echo "| build | GET /v1/cases/{id} req/s (range) | p99 µs | GET /v1/whoami req/s | p99 µs | disclosure rows |"
echo "|---|---|---|---|---|---|"
# shellcheck disable=SC2086
row "with the log" $AFTER_LINE
if [ -n "$BEFORE" ] && [ -n "$BEFORE_SRC" ]; then
	BEFORE_LINE=$(measure "$BEFORE" before "$BEFORE_SRC") || exit 1
	# shellcheck disable=SC2086
	row "before" $BEFORE_LINE
fi
