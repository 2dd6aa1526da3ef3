#!/bin/sh
# claims.sh: review-queue claims at scale (issue 6): with CLAIMS_FILES
# (1,000,000) files queued for one office, CLAIMS_CONNS (32) officers claim
# the next file as fast as the answers come back. Prints one markdown table
# and writes it to bench/claims-results.md.
# Usage: sh bench/claims.sh ABSOLUTE_BUILD_DIR (make bench-claims).
#
#  1. bench/claims build writes the database through the store's own API
#     (see bench/claims.c) and the workflow that names the queue.
#  2. cairnd starts on it (the first start writes admin.token).
#  3. bench/claims load, CLAIMS_RUNS rounds of two runs of CLAIMS_SECS s
#     after 1 s of warm-up: closed loop (each claimer claims again as soon
#     as it is answered: the most claims/s), then paced (the claimers'
#     schedules add up to CLAIMS_RATE claims/s: the latency at that rate,
#     which is the target's). Every claim is a durable write (a lease), so
#     the queue shrinks by the claims of each run.
#
# Environment: CLAIMS_FILES (1000000), CLAIMS_CONNS (32), CLAIMS_RUNS (3),
# CLAIMS_SECS (5), CLAIMS_RATE (1000), CLAIMS_TMPDIR (the build dir),
# CLAIMS_STRICT=1 to exit 1 when a target is missed.
# shellcheck disable=SC2046
set -u

BUILD=${1:-}
case $BUILD in
/*) ;;
*)
	echo "usage: sh bench/claims.sh ABSOLUTE_BUILD_DIR" >&2
	exit 2
	;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

FILES=${CLAIMS_FILES:-1000000}
CONNS=${CLAIMS_CONNS:-32}
RUNS=${CLAIMS_RUNS:-3}
SECS=${CLAIMS_SECS:-5}
RATE_OFFERED=${CLAIMS_RATE:-1000}
WARM=1
# issue 6: with 1,000,000 queued files and 32 concurrent claimers
P99_TARGET_MS=10
RATE_TARGET=1000

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_need claims "make bench-claims" cairnd bench/claims

TMP=$(mktemp -d "${CLAIMS_TMPDIR:-$BUILD}/claims.XXXXXX") || exit 1
PID=""
BENCH_NAME=claims

# stops cairnd ($PID) and removes $TMP on any exit
bench_clean_on_exit

atmost() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a != "n/a" && a + 0 <= b + 0) ? "yes" : "no" }'
}
atleast() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a != "n/a" && a + 0 >= b + 0) ? "yes" : "no" }'
}

PORT=""
_try=0
while [ "$_try" -lt 20 ]; do
	_try=$((_try + 1))
	_n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
	PORT=$((20000 + _n % 20001))
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"
	[ $? -eq 7 ] && break
done
URL="http://127.0.0.1:$PORT"

echo "claims: building $FILES queued files in $TMP" >&2
T0=$(date +%s)
BUILD_LINE=$("$BUILD/bench/claims" build -o "$TMP" -n "$FILES") ||
	die "the build failed: $BUILD_LINE"
echo "claims: $BUILD_LINE in $(($(date +%s) - T0)) s" >&2

cat >"$TMP/cairnd.yaml" <<EOF
listen: 127.0.0.1:$PORT
database: cairn.db
definitions:
  workflows: [workflows]
  rules: []
  adapters: []
log_level: warn
EOF
"$BUILD/cairnd" -c "$TMP/cairnd.yaml" --rate-limits off >>"$TMP/cairnd.log" 2>&1 &
PID=$!
i=0
until curl -sf -o /dev/null "$URL/readyz"; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || die "cairnd not ready in 60 s"
	alive "$PID" || die "cairnd exited at start-up"
	sleep 0.1
done

: >"$TMP/runs.txt"
: >"$TMP/paced.txt"
i=1
while [ "$i" -le "$RUNS" ]; do
	line=$("$BUILD/bench/claims" load -c "$CONNS" -d "$SECS" -w "$WARM" \
		-T "$TMP/admin.token" "$URL") || die "load run $i failed: $line"
	echo "claims: closed loop $i/$RUNS: $line" >&2
	echo "$line" >>"$TMP/runs.txt"
	line=$("$BUILD/bench/claims" load -c "$CONNS" -d "$SECS" -w "$WARM" \
		-r "$RATE_OFFERED" -T "$TMP/admin.token" "$URL") ||
		die "paced run $i failed: $line"
	echo "claims: paced $i/$RUNS: $line" >&2
	echo "$line" >>"$TMP/paced.txt"
	i=$((i + 1))
done

kill -TERM "$PID"
wait_gone "$PID" 100 || die "cairnd did not stop within 10 s"
wait "$PID"
RC=$?
PID=""
[ "$RC" = 0 ] || die "cairnd did not exit 0 after SIGTERM ($RC)"

set -- $(stats "$TMP/runs.txt" claims_per_s)
RATE=$1 RATE_LO=$2 RATE_HI=$3
set -- $(stats "$TMP/runs.txt" p99_us)
CP99=$(ms "$1") CP99_LO=$(ms "$2") CP99_HI=$(ms "$3")
set -- $(stats "$TMP/runs.txt" p50_us)
CP50=$(ms "$1")
set -- $(stats "$TMP/paced.txt" claims_per_s)
PRATE=$1
set -- $(stats "$TMP/paced.txt" p99_us)
P99=$(ms "$1") P99_LO=$(ms "$2") P99_HI=$(ms "$3")
set -- $(stats "$TMP/paced.txt" p50_us)
P50=$(ms "$1")
ERRS=$(($(total "$TMP/runs.txt" errors non2xx) + $(total "$TMP/paced.txt" errors non2xx)))
EMPTY=$(($(total "$TMP/runs.txt" empty) + $(total "$TMP/paced.txt" empty)))
RATE_OK=$(atleast "$RATE" "$RATE_TARGET")
P99_OK=$(atmost "$P99" "$P99_TARGET_MS")

OUT="$ROOT/bench/claims-results.md"
{
	echo "| figure ($(num "$FILES") queued files, $CONNS claimers, median of $RUNS × ${SECS} s) | value (range) | target | met |"
	echo "|---|---|---|---|"
	echo "| claims/s, closed loop (each a durable lease) | $(num "$RATE") ($(num "$RATE_LO")–$(num "$RATE_HI")) | ≥ $(num "$RATE_TARGET") | $RATE_OK |"
	echo "| claim p99 at $(num "$RATE_OFFERED") claims/s offered (got $(num "$PRATE")) | $P99 ms ($P99_LO–$P99_HI) | ≤ $P99_TARGET_MS ms | $P99_OK |"
	echo "| claim p50 at $(num "$RATE_OFFERED") claims/s | $P50 ms | | |"
	echo "| claim p50 / p99, closed loop | $CP50 / $CP99 ms ($CP99_LO–$CP99_HI) | | |"
	echo "| errors, non-2xx, empty queue answers | $ERRS, $EMPTY | 0 | $([ "$ERRS" = 0 ] && echo yes || echo no) |"
} >"$OUT"
cat "$OUT"
if [ "${CLAIMS_STRICT:-0}" = 1 ] &&
	{ [ "$RATE_OK" != yes ] || [ "$P99_OK" != yes ] || [ "$ERRS" != 0 ]; }; then
	exit 1
fi
exit 0
