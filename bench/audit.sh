#!/bin/sh
# audit.sh: how long `cairn audit verify` takes to walk every case's hash
# chain. Builds a database of AUDIT_CASES cases (default 1,000,000: 200,000
# applications with 4 campus applications each and their chained history)
# with `bench/scale build`, which writes the history through the store's
# API exactly as cairnd chains it, then times the walk AUDIT_RUNS times
# (default 3) and prints the median. The first walk reads the file from
# disk; the others from the page cache as well.
# Usage: sh bench/audit.sh ABSOLUTE_BUILD_DIR (make bench-audit).
# The temporary directory (about 1.4 GB per million cases) lives under the
# build directory unless AUDIT_TMPDIR says otherwise; it is removed on exit.
set -u

BUILD=${1:-}
case $BUILD in
/*) ;;
*)
	echo "usage: sh bench/audit.sh ABSOLUTE_BUILD_DIR" >&2
	exit 2
	;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1
CASES=${AUDIT_CASES:-1000000}
RUNS=${AUDIT_RUNS:-3}
TMP=$(mktemp -d "${AUDIT_TMPDIR:-$BUILD}/audit-bench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

echo "building $CASES cases..." >&2
"$BUILD/bench/scale" build -o "$TMP" -n "$CASES" -t 0 -s 1 >/dev/null || {
	echo "audit.sh: scale build failed" >&2
	exit 1
}
times=""
for i in $(seq "$RUNS"); do
	out=$("$BUILD/cairn" audit verify --db "$TMP/cairn.db") || {
		echo "audit.sh: the verification failed:" >&2
		echo "$out" >&2
		exit 1
	}
	s=$(echo "$out" | sed -n 's/^verified in \([0-9.]*\) s$/\1/p')
	echo "run $i: $s s" >&2
	times="$times $s"
done
echo "$out" | sed -n '1p'
median=$(echo "$times" | tr ' ' '\n' | sed '/^$/d' | sort -n |
	awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "audit verify, $CASES cases: median $median s of $RUNS runs ($times s)"
