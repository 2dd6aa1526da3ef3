#!/bin/sh
# run.sh: runs each fuzz target for a while. Usage:
#   fuzz/run.sh BUILD SECONDS TARGET...
# Each target starts from its committed corpus (fuzz/corpus/<t>/) and grows
# a working corpus under BUILD/corpus/<t>/, which stays out of the
# repository; crashes go to BUILD/artifacts/. A line per target says how
# many inputs ran and whether it stayed clean; the exit status is 1 when
# any target crashed.
set -u
build=$1
secs=$2
shift 2
status=0
for t in "$@"; do
	case $t in
	isir) maxlen=32768 ;;
	http) maxlen=16384 ;;
	*) maxlen=65536 ;;
	esac
	mkdir -p "$build/corpus/$t" "$build/artifacts"
	log="$build/fuzz-$t.log"
	"$build/fuzz/$t" -max_total_time="$secs" -max_len="$maxlen" \
		-timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t-" \
		"$build/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$rc" = 0 ]; then
		echo "fuzz $t: ${secs}s, ${execs:-?} inputs, clean"
	else
		echo "fuzz $t: FAILED after ${execs:-?} inputs; see $log" >&2
		status=1
	fi
done
exit $status
