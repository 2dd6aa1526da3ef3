#!/bin/sh
# rules-host.sh: rule sets inside cairnd (issue 4): the time to publish a
# new version live (PUT /v1/rules/cal_grant: load, compile, run its tests,
# record it durably, swap it in; the client's round trip), and a dry run
# of a candidate version over RULES_CASES stored financial-aid files.
# Prints a markdown table and writes it to bench/rules-host-results.md.
# Usage: sh bench/rules-host.sh ABSOLUTE_BUILD_DIR (make bench-rules).
#
#  1. bench/scale build-aid writes RULES_CASES aid_file cases whose data is
#     the Cal Grant input for 2022-23, drawn around the ceilings and GPA
#     minimums (see bench/scale.c).
#  2. cairnd starts on it with the embedded defaults (examples/rules).
#  3. Publishing: two candidate copies of examples/rules/cal_grant (A's
#     high-school GPA minimum at 3.10 and at 3.20) are PUT in turn,
#     RULES_PUBLISHES times; each is a new live version (the other one is
#     retired), timed by curl.
#  4. Dry runs: the 3.10 candidate against the live version over every
#     aid_file case, RULES_RUNS times; the server's elapsed_ms.
#
# Environment: RULES_CASES (1000000), RULES_PUBLISHES (20), RULES_RUNS (3),
# RULES_TMPDIR (the build dir).
set -u

BUILD=${1:-}
case $BUILD in
/*) ;;
*)
	echo "usage: sh bench/rules-host.sh ABSOLUTE_BUILD_DIR" >&2
	exit 2
	;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

CASES=${RULES_CASES:-1000000}
PUBLISHES=${RULES_PUBLISHES:-20}
RUNS=${RULES_RUNS:-3}
PUBLISH_TARGET_MS=50
DRY_TARGET_S=30

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_need rules-host "make bench-rules" cairnd bench/scale

TMP=$(mktemp -d "${RULES_TMPDIR:-$BUILD}/rules-host.XXXXXX") || exit 1
PID=""
BENCH_NAME=rules-host

# stops cairnd ($PID) and removes $TMP on any exit
bench_clean_on_exit

die() {
	echo "rules-host: $*" >&2
	exit 1
}

echo "rules-host: building $CASES aid files in $TMP" >&2
"$BUILD/bench/scale" build-aid -o "$TMP" -n "$CASES" >"$TMP/build.line" ||
	die "build-aid failed"

# the candidates, and their bodies
for gpa in 3.10 3.20; do
	mkdir -p "$TMP/cand-$gpa" || die "mkdir"
	cp -r examples/rules/cal_grant "$TMP/cand-$gpa/" || die "cp"
	# the example's test cases pin the 3.00 minimum the candidates move:
	# with them, the candidates would (rightly) be refused
	rm -rf "$TMP/cand-$gpa/cal_grant/tests"
	sed -i "s/a_high_school: 3.00/a_high_school: $gpa/" \
		"$TMP/cand-$gpa/cal_grant/params/2022-23.yaml"
	"$BUILD/bench/scale" rules-body "$TMP/cand-$gpa/cal_grant" \
		>"$TMP/put-$gpa.json" || die "rules-body"
	"$BUILD/bench/scale" rules-body "$TMP/cand-$gpa/cal_grant" aid_file \
		>"$TMP/dry-$gpa.json" || die "rules-body"
done

PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' \n') % 20001))
"$BUILD/cairnd" --listen "127.0.0.1:$PORT" --db "$TMP/cairn.db" --rate-limits off \
	>>"$TMP/cairnd.log" 2>&1 &
PID=$!
URL="http://127.0.0.1:$PORT"
TOKEN=$(cat "$TMP/admin.token")
i=0
until curl -s -o /dev/null "$URL/healthz"; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || die "cairnd did not start"
	alive "$PID" || die "cairnd exited: $(tail -3 "$TMP/cairnd.log")"
	sleep 0.1
done

req() { # METHOD PATH BODYFILE -> "status seconds" on stdout, body in $TMP/out
	curl -s -o "$TMP/out" -w '%{http_code} %{time_total}\n' -X "$1" \
		-H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' --data-binary "@$3" "$URL$2"
}

: >"$TMP/publish.lines"
n=0
while [ "$n" -lt "$PUBLISHES" ]; do
	gpa=3.10
	[ $((n % 2)) -eq 1 ] && gpa=3.20
	set -- $(req PUT /v1/rules/cal_grant "$TMP/put-$gpa.json")
	[ "$1" = 200 ] || die "PUT answered $1: $(cat "$TMP/out")"
	echo "ms=$(awk -v s="$2" 'BEGIN { printf "%.2f", s * 1000 }')" \
		>>"$TMP/publish.lines"
	n=$((n + 1))
done
# back to the files' own version for the dry runs
"$BUILD/bench/scale" rules-body examples/rules/cal_grant >"$TMP/put-orig.json"
set -- $(req PUT /v1/rules/cal_grant "$TMP/put-orig.json")
[ "$1" = 200 ] || die "PUT answered $1"

: >"$TMP/dry.lines"
n=0
while [ "$n" -lt "$RUNS" ]; do
	set -- $(req POST /v1/rules/cal_grant/dry-run "$TMP/dry-3.10.json")
	[ "$1" = 200 ] || die "dry run answered $1: $(cat "$TMP/out")"
	tr ',' '\n' <"$TMP/out" | tr -d '"{}' |
		awk -F: '$1 == "elapsed_ms" || $1 == "evaluated" || $1 == "changed" { printf "%s=%s ", $1, $2 } END { print "" }' \
			>>"$TMP/dry.lines"
	n=$((n + 1))
done

# shellcheck disable=SC2046
set -- $(stats "$TMP/publish.lines" ms)
PUB_MED=$1 PUB_MIN=$2 PUB_MAX=$3
# shellcheck disable=SC2046
set -- $(stats "$TMP/dry.lines" elapsed_ms)
DRY_MED=$1 DRY_MIN=$2 DRY_MAX=$3
EVAL=$(values "$TMP/dry.lines" evaluated | head -1)
CHANGED=$(values "$TMP/dry.lines" changed | head -1)
ok() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "yes" : "no" }'; }

OUT="$ROOT/bench/rules-host-results.md"
{
	echo "# Rule sets in cairnd ($(date -u +%Y-%m-%d), $(nproc) cores)"
	echo
	echo "Command: \`make bench-rules\` ($CASES aid files, $PUBLISHES publishes, $RUNS dry runs; median (min-max))."
	echo
	echo "| measure | result | target | met |"
	echo "| --- | --- | --- | --- |"
	echo "| publish a new version live (PUT round trip) | $PUB_MED ms ($PUB_MIN-$PUB_MAX) | <= $PUBLISH_TARGET_MS ms | $(ok "$PUB_MED" $PUBLISH_TARGET_MS) |"
	echo "| dry run over $EVAL cases ($CHANGED change) | $(awk -v m="$DRY_MED" 'BEGIN { printf "%.1f", m / 1000 }') s ($DRY_MIN-$DRY_MAX ms) | <= $DRY_TARGET_S s | $(ok "$DRY_MED" $((DRY_TARGET_S * 1000))) |"
} >"$OUT"
cat "$OUT"
