#!/bin/sh
# curves.sh: the scaling curves (issue 9): throughput and p99 of student
# applications and of the season mix at 1, 8, 64 and 256 concurrent
# clients, and of reads and writes with 10,000, 1,000,000 and 10,000,000
# cases stored. Writes bench/curves.md (the tables) and bench/curves.svg
# (the plot, drawn by bench/plot.awk from the same numbers).
# Usage: sh bench/curves.sh ABSOLUTE_BUILD_DIR (make bench-curves).
#
# How long: 16 minutes on this 2-core machine while six other engineers
# built and tested on it (952 s: 5 minutes for the 8 concurrency points,
# 3 runs of 6 s each plus each point's fresh cairnd and set-up; 10 minutes
# to build the 10,000,000 cases through the store's API, 1 for the
# 1,000,000; under a minute of load per size). On a quiet machine the
# build runs at about 18 s a million, so about 10 minutes in all. Disk:
# 14 GB for the 10,000,000-case database at the peak.
#
#  1. Concurrency: for each count in CURVES_CLIENTS, a fresh cairnd
#     configured as bench/run.sh does (daemon.sh: the example definitions,
#     a uc_campus adapter delivering to the mock institution), then
#     CURVES_RUNS runs of bench/apps -m apps (4 campuses); then another
#     fresh cairnd, CURVES_SEASON_ISIR ISIRs imported for the officers, and
#     CURVES_RUNS runs of bench/season (its default mix).
#  2. Stored cases: for each count in CURVES_CASES, bench/scale build
#     writes that many cases (student applications with 4 campus
#     applications each, their chained history and timers) through the
#     store's API; cairnd starts on it; CURVES_RUNS runs of reads
#     (bench/scale load -m get: GET /v1/cases/{random id}) and of writes
#     (bench/apps -m apps, which adds applications to the same database),
#     at 64 connections each. Before each build the free space under the
#     temporary directory is checked (about 1.5 KB a case, plus 1 GiB):
#     a size that does not fit is skipped with a message, and its row says
#     so. Each database is removed before the next is built.
#
# Each figure is the median of the runs; its range is in the table.
# Environment: CURVES_CLIENTS ("1 8 64 256"), CURVES_CASES ("10000 1000000
# 10000000"), CURVES_RUNS (3), CURVES_SECS (5), CURVES_SEASON_ISIR
# (20000), CURVES_TMPDIR (the build directory), CURVES_NOTE (a line under
# the title, e.g. who ran it where).
# `set -- $(stats ...)` below splits three plain words on purpose
# shellcheck disable=SC2046
set -u

BUILD=${1:-}
case $BUILD in
/*) ;;
*)
	echo "usage: sh bench/curves.sh ABSOLUTE_BUILD_DIR" >&2
	exit 2
	;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

CLIENTS=${CURVES_CLIENTS:-1 8 64 256}
CASES=${CURVES_CASES:-10000 1000000 10000000}
RUNS=${CURVES_RUNS:-3}
SECS=${CURVES_SECS:-5}
SEASON_ISIR=${CURVES_SEASON_ISIR:-20000}
NOTE=${CURVES_NOTE:-}
WARM=1
CONNS=64

for f in cairnd cairn cairn-mock-institution bench/apps bench/season \
	bench/scale; do
	if [ ! -x "$BUILD/$f" ]; then
		echo "curves: $BUILD/$f is missing; run make bench-curves" >&2
		exit 1
	fi
done

TMP=$(mktemp -d "${CURVES_TMPDIR:-$BUILD}/curves.XXXXXX") || exit 1
PID=""
MOCK=""
BENCH_NAME=curves
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/daemon.sh
. "$(dirname "$0")/daemon.sh"

# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	if [ -n "$PID" ] && alive "$PID"; then
		kill -TERM "$PID" 2>/dev/null
		wait_gone "$PID" 100 || kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	if [ -n "$MOCK" ] && alive "$MOCK"; then
		kill -TERM "$MOCK" 2>/dev/null
		wait "$MOCK" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

T_START=$(date +%s)
start_mock
echo "curves: results in $TMP" >&2

# --- 1. concurrency ----------------------------------------------------------------

for n in $CLIENTS; do
	start_daemon "$TMP/apps-$n"
	repeat "apps-$n" "$BUILD/bench/apps" -m apps -c "$n" -d "$SECS" \
		-w "$WARM" -k 4 -T "$TMP/apps-$n/admin.token" "$URL"
	stop_daemon "apps-$n"
	rm -rf "$TMP/apps-$n"

	start_daemon "$TMP/season-$n"
	"$BUILD/cairn" isir generate "$SEASON_ISIR" >"$TMP/season-$n/isir.txt" ||
		fail "cairn isir generate failed"
	CAIRN_TOKEN=$(cat "$TMP/season-$n/admin.token") \
		"$BUILD/cairn" --url "$URL" isir import "$TMP/season-$n/isir.txt" \
		--office season >"$TMP/season-$n/import.txt" 2>&1 ||
		fail "the ISIR import failed: $(cat "$TMP/season-$n/import.txt")"
	repeat "season-$n" "$BUILD/bench/season" -c "$n" -d "$SECS" \
		-w "$WARM" -O season -T "$TMP/season-$n/admin.token" "$URL"
	stop_daemon "season-$n"
	rm -rf "$TMP/season-$n"
done

# --- 2. stored cases -----------------------------------------------------------------

SKIPPED=""
for n in $CASES; do
	d="$TMP/scale-$n"
	mkdir -p "$d"
	avail=$(df -Pk "$d" | awk 'NR == 2 { print $4 }')
	need=$((n * 3 / 2 + 1048576))
	if [ "$avail" -le "$need" ]; then
		echo "curves: skipping $n cases: $((avail / 1024)) MiB free under $TMP, about $((need / 1024)) MiB needed" >&2
		SKIPPED="$SKIPPED $n"
		echo "skipped=1 free_mib=$((avail / 1024)) need_mib=$((need / 1024))" >"$TMP/build-$n.txt"
		rm -rf "$d"
		continue
	fi
	timers=$((n / 10))
	[ "$timers" -gt 100000 ] && timers=100000
	echo "curves: building $n cases in $d" >&2
	line=$("$BUILD/bench/scale" build -o "$d" -n "$n" -t "$timers" \
		-r "$ROOT") || fail "building $n cases failed: $line"
	echo "curves: $line" >&2
	echo "$line" >"$TMP/build-$n.txt"
	START_WAIT=600 start_daemon "$d"
	repeat "get-$n" "$BUILD/bench/scale" load -m get -c "$CONNS" \
		-d "$SECS" -w "$WARM" -T "$d/admin.token" -f "$d/ids.txt" "$URL"
	repeat "write-$n" "$BUILD/bench/apps" -m apps -c "$CONNS" -d "$SECS" \
		-w "$WARM" -k 4 -T "$d/admin.token" "$URL"
	stop_daemon "scale-$n"
	echo "hwm_kb=$HWM" >"$TMP/hwm-scale-$n.txt"
	rm -rf "$d"
done
T_END=$(date +%s)

# --- report ------------------------------------------------------------------------------

# med FILE KEY: the median of KEY over FILE's runs, or n/a
med() {
	if [ -s "$1" ]; then stats "$1" "$2" | cut -d' ' -f1; else echo n/a; fi
}

# range FILE KEY [DECIMALS]: "min–max"
range() {
	if [ ! -s "$1" ]; then
		echo "—"
		return
	fi
	set -- "$1" "$2" "${3:-0}" $(stats "$1" "$2")
	echo "$(num "$5" "$3")–$(num "$6" "$3")"
}

# p99 FILE: the median over the runs of each run's p99, in ms
p99() {
	if [ -s "$1" ]; then ms "$(med "$1" p99_us)"; else echo n/a; fi
}

CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
FS=$(df -PT "$TMP" 2>/dev/null | awk 'NR == 2 { print $2 " on " $1 }')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ] &&
	REV="$REV (with uncommitted changes)"
SPEC="$TMP/plot.tsv"
TAB=$(printf '\t')
{
	echo "title${TAB}Cairn: scaling curves ($(date -u '+%Y-%m-%d'), revision $REV)"
	echo "note${TAB}$(nproc) CPU(s), $CPU; ${FS:-unknown}; median of $RUNS runs of ${SECS} s each"
	[ -n "$NOTE" ] && echo "note${TAB}$NOTE"
	echo "panel${TAB}c-rate${TAB}Throughput by concurrent clients${TAB}clients (closed loop, one request in flight each)${TAB}operations/s"
	echo "panel${TAB}c-p99${TAB}p99 latency by concurrent clients${TAB}clients${TAB}p99 (ms)"
	echo "panel${TAB}n-rate${TAB}Throughput by cases stored (64 clients)${TAB}cases stored${TAB}operations/s"
	echo "panel${TAB}n-p99${TAB}p99 latency by cases stored (64 clients)${TAB}cases stored${TAB}p99 (ms)"
	for n in $CLIENTS; do
		echo "point${TAB}c-rate${TAB}applications (4 campuses)${TAB}$n${TAB}$(med "$TMP/apps-$n.txt" ops_per_s)"
		echo "point${TAB}c-rate${TAB}season mix operations${TAB}$n${TAB}$(med "$TMP/season-$n.txt" ops_per_s)"
		echo "point${TAB}c-p99${TAB}application${TAB}$n${TAB}$(p99 "$TMP/apps-$n.txt")"
		echo "point${TAB}c-p99${TAB}season mix operation${TAB}$n${TAB}$(p99 "$TMP/season-$n.txt")"
	done
	for n in $CASES; do
		echo "point${TAB}n-rate${TAB}reads: GET /v1/cases/{id}${TAB}$n${TAB}$(med "$TMP/get-$n.txt" rps)"
		echo "point${TAB}n-rate${TAB}writes: applications (4 campuses)${TAB}$n${TAB}$(med "$TMP/write-$n.txt" ops_per_s)"
		echo "point${TAB}n-p99${TAB}read${TAB}$n${TAB}$(p99 "$TMP/get-$n.txt")"
		echo "point${TAB}n-p99${TAB}write (application)${TAB}$n${TAB}$(p99 "$TMP/write-$n.txt")"
	done
} >"$SPEC"
awk -f "$ROOT/bench/plot.awk" "$SPEC" >"$TMP/curves.svg" || die "plot.awk failed"

OUT="$TMP/curves.md"
{
	echo "# Cairn: scaling curves"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $((T_END - T_START)) s in all (make bench-curves)"
	echo "- revision: $REV"
	echo "- machine: $(nproc) CPU(s), $CPU; Linux $(uname -r); database disk ${FS:-unknown}; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
	[ -n "$NOTE" ] && echo "- $NOTE"
	echo "- each figure: the median of $RUNS runs of ${SECS} s after ${WARM} s of warm-up (range min–max over the runs); p99 is the median of the runs' p99; closed loop, one request in flight per client, keep-alive"
	echo "- plot: [curves.svg](curves.svg), drawn from these numbers by bench/plot.awk"
	echo
	echo "## By concurrent clients"
	echo
	echo "A fresh cairnd for each point (example definitions, uc_campus delivering to the mock institution). Applications go to 4 UC campuses (create + submit, 5 cases each); the season mix is bench/season's default (submissions 10%, signed institution callbacks 25%, claims with decisions 10%, counselors' alert reads 15%, students' status reads 40%; $(num "$SEASON_ISIR") ISIRs imported for the claims)."
	echo
	echo "| clients | applications/s | range | application p99 (ms) | season ops/s | range | season p99 (ms) |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	for n in $CLIENTS; do
		echo "| $n | $(num "$(med "$TMP/apps-$n.txt" ops_per_s)") |" \
			"$(range "$TMP/apps-$n.txt" ops_per_s) |" \
			"$(num "$(p99 "$TMP/apps-$n.txt")" 1) |" \
			"$(num "$(med "$TMP/season-$n.txt" ops_per_s)") |" \
			"$(range "$TMP/season-$n.txt" ops_per_s) |" \
			"$(num "$(p99 "$TMP/season-$n.txt")" 1) |"
	done
	echo
	echo "## By cases stored"
	echo
	echo "bench/scale build writes the cases through the store's API (student applications with 4 campus applications each, their hash-chained history, timers up to 100,000); cairnd starts on the database; reads are GET /v1/cases/{random id} from a uniform sample of the cases, writes are new applications (4 campuses) into the same database; 64 connections each."
	echo
	echo "| cases stored | build (s) | database (MiB) | reads/s | range | read p99 (ms) | applications/s | range | application p99 (ms) | cairnd peak (MiB) |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $CASES; do
		b="$TMP/build-$n.txt"
		if [ "$(values "$b" skipped)" = 1 ]; then
			echo "| $(num "$n") | skipped: $(num "$(values "$b" free_mib)") MiB free, about $(num "$(values "$b" need_mib)") MiB needed | | | | | | | | |"
			continue
		fi
		echo "| $(num "$n") | $(values "$b" build_s) |" \
			"$(num "$(awk -v x="$(values "$b" db_bytes)" 'BEGIN { print x / 1048576 }')") |" \
			"$(num "$(med "$TMP/get-$n.txt" rps)") | $(range "$TMP/get-$n.txt" rps) |" \
			"$(num "$(p99 "$TMP/get-$n.txt")" 2) |" \
			"$(num "$(med "$TMP/write-$n.txt" ops_per_s)") | $(range "$TMP/write-$n.txt" ops_per_s) |" \
			"$(num "$(p99 "$TMP/write-$n.txt")" 1) |" \
			"$(num "$(awk -v x="$(grep -h "^hwm_kb=" "$TMP/hwm-scale-$n.txt" 2>/dev/null | cut -d= -f2)" 'BEGIN { print x / 1024 }')" 1) |"
	done
	[ -n "$SKIPPED" ] && echo && echo "Skipped for want of disk:$SKIPPED cases."
	[ -n "$EXIT_BAD" ] && echo && echo "cairnd did not exit 0 after SIGTERM:$EXIT_BAD"
} >"$OUT"

cat "$OUT"
cp "$OUT" "$ROOT/bench/curves.md" || echo "curves: could not write bench/curves.md" >&2
cp "$TMP/curves.svg" "$ROOT/bench/curves.svg" || echo "curves: could not write bench/curves.svg" >&2
[ -z "$EXIT_BAD" ] || die "cairnd did not exit 0 after SIGTERM:$EXIT_BAD"
exit 0
