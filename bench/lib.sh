# lib.sh: what the bench/*.sh scripts share: checking the programs are
# built, watching the daemon's process, reading key=value lines from the
# load generators, the statistics of repeated runs, and the clean-up on
# exit. Sourced; the functions read BENCH_NAME, BUILD and TMP when called.

# bench_need WHO HINT FILE...: exits 1, saying so as WHO, unless every FILE
# under $BUILD is an executable (HINT: what builds them).
bench_need() {
	_who=$1
	_hint=$2
	shift 2
	for _f in "$@"; do
		if [ ! -x "$BUILD/$_f" ]; then
			echo "$_who: $BUILD/$_f is missing; run $_hint" >&2
			exit 1
		fi
	done
}

# Prints the one-letter process state of pid $1, or nothing once it is gone.
pstate() {
	sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" \
		2>/dev/null
}

# True while pid $1 runs (a zombie has exited and only awaits reaping).
alive() {
	case $(pstate "$1") in
	"" | Z | X) return 1 ;;
	*) return 0 ;;
	esac
}

# Waits up to $2 tenths of a second for pid $1 to exit.
wait_gone() {
	_i=0
	while alive "$1" && [ "$_i" -lt "$2" ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	! alive "$1"
}

# Prints the values of key $2 in the key=value lines of file $1, one a line.
values() {
	awk -v k="$2" '{
		for (i = 1; i <= NF; i++) {
			j = index($i, "=")
			if (j > 0 && substr($i, 1, j - 1) == k)
				print substr($i, j + 1)
		}
	}' "$1"
}

# Prints "median min max" of key $2 over the lines of file $1.
stats() {
	values "$1" "$2" | sort -n | awk '
		{ a[NR] = $1 }
		END {
			if (NR == 0) { print "n/a n/a n/a"; exit }
			if (NR % 2) m = a[(NR + 1) / 2]
			else m = (a[NR / 2] + a[NR / 2 + 1]) / 2
			print m, a[1], a[NR]
		}'
}

# Prints the sum of keys $2... over every line of file $1.
total() {
	_f=$1
	shift
	awk -v keys="$*" '
		BEGIN { n = split(keys, k, " "); for (i = 1; i <= n; i++) w[k[i]] = 1 }
		{
			for (i = 1; i <= NF; i++) {
				j = index($i, "=")
				if (substr($i, 1, j - 1) in w)
					s += substr($i, j + 1)
			}
		}
		END { print s + 0 }' "$_f"
}

# Formats number $1 with $2 decimals and thousands separators.
num() {
	awk -v x="$1" -v d="${2:-0}" 'BEGIN {
		if (x == "n/a" || x == "") { printf "n/a"; exit }
		s = sprintf("%." d "f", x)
		i = index(s, ".")
		ip = i ? substr(s, 1, i - 1) : s
		fp = i ? substr(s, i) : ""
		neg = substr(ip, 1, 1) == "-"
		if (neg) ip = substr(ip, 2)
		out = ""
		while (length(ip) > 3) {
			out = "," substr(ip, length(ip) - 2) out
			ip = substr(ip, 1, length(ip) - 3)
		}
		printf "%s%s%s%s", neg ? "-" : "", ip, out, fp
	}'
}

# microseconds to milliseconds
ms() {
	awk -v x="$1" 'BEGIN { if (x == "" || x == "n/a") print "n/a"; else print x / 1000 }'
}

die() {
	echo "$BENCH_NAME: $*" >&2
	if [ -s "$TMP/cairnd.log" ]; then
		echo "$BENCH_NAME: last lines of cairnd's log:" >&2
		tail -n 20 "$TMP/cairnd.log" >&2
	fi
	exit 1
}

# The exit of a benchmark that runs one cairnd ($PID) in a scratch
# directory ($TMP): stops the load generator ($LOADPID) when it still runs,
# then the daemon (SIGTERM, then SIGKILL after $BENCH_STOP_TENTHS tenths of
# a second, 50 unless set), then the mock institution ($MOCK), and removes
# the directory, however the script ends.
# shellcheck disable=SC2317 # reached through the trap
bench_clean() {
	if [ -n "${LOADPID:-}" ] && alive "$LOADPID"; then
		kill -TERM "$LOADPID" 2>/dev/null
		wait "$LOADPID" 2>/dev/null
	fi
	if [ -n "${PID:-}" ] && alive "$PID"; then
		kill -TERM "$PID" 2>/dev/null
		wait_gone "$PID" "${BENCH_STOP_TENTHS:-50}" ||
			kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	if [ -n "${MOCK:-}" ] && alive "$MOCK"; then
		kill -TERM "$MOCK" 2>/dev/null
		wait "$MOCK" 2>/dev/null
	fi
	rm -rf "$TMP"
}

bench_clean_on_exit() {
	trap bench_clean EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
