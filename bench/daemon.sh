# shellcheck shell=sh
# shellcheck disable=SC2034 # MOCK, HWM, URL: read by the scripts sourcing this
# daemon.sh: what bench/run.sh and bench/curves.sh share to run cairnd the
# way a deployment does: the mock institution with a uc_campus adapter
# pointed at it, a fresh cairnd per workload on a free loopback port, its
# metrics, its peak memory and its exit. Sourced after lib.sh, with ROOT,
# BUILD, TMP, RUNS, PID and MOCK set.

export CAIRN_UC_CAMPUS_TOKEN=bench-campus-token
export CAIRN_UC_CAMPUS_CALLBACK_SECRET="bench-callback-secret-$$"

start_mock() {
	"$BUILD/cairn-mock-institution" --port 0 --port-file "$TMP/mock.port" \
		>"$TMP/mock.log" 2>&1 &
	MOCK=$!
	_i=0
	while [ ! -s "$TMP/mock.port" ] && [ "$_i" -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -s "$TMP/mock.port" ] || die "the mock institution did not start"
	MOCK_PORT=$(cat "$TMP/mock.port")
	# the example adapter, pointed at the mock; without its rate limit
	# (50 calls/s) the outbox keeps up with the load, and without its
	# response mapping the institutions' decisions come by callback only
	mkdir -p "$TMP/adapters"
	cat >"$TMP/adapters/uc_campus.yaml" <<EOF
name: uc_campus
description: the example uc_campus adapter, for the benchmarks (bench/run.sh)
base_url: http://127.0.0.1:$MOCK_PORT/uc
credentials: {header: Authorization, scheme: Bearer, secret: {env: CAIRN_UC_CAMPUS_TOKEN}}
timeouts: {connect: 2s, total: 15s}
retry: {max_attempts: 12, initial: 1s, max: 1m}
concurrency: 16
callbacks:
  secret: {env: CAIRN_UC_CAMPUS_CALLBACK_SECRET}
  window: 5m
  events: [complete, request_documents, accept_documents, decide]
operations:
  send_application:
    method: POST
    path: /applications
    headers: {X-Campus: "\${data.campus}"}
    body: {application_id: \$case_id, campus: \$data.campus, submitted_at: \$now}
  send_intent_to_register:
    method: POST
    path: /applications/\${case_id}/intent-to-register
    body: {application_id: \$case_id, campus: \$data.campus}
  send_withdrawal:
    method: POST
    path: /applications/\${case_id}/withdrawal
    body: {application_id: \$case_id, campus: \$data.campus}
EOF
}

# start_daemon DIR: a cairnd with its database in DIR (DIR/cairn.db, made
# when missing), on a port in 20000-40000 that nothing answers on; waits
# START_WAIT tenths of a second (100) at most for /healthz.
# Retries on a new port if cairnd says the address is in use.
start_daemon() {
	DIR=$1
	mkdir -p "$DIR"
	_try=0
	while [ "$_try" -lt 5 ]; do
		_try=$((_try + 1))
		_n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
		PORT=$((20000 + _n % 20001))
		# exit status 7: connection refused, so the port is free
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"
		[ $? -eq 7 ] || continue
		cat >"$DIR/cairnd.yaml" <<EOF
listen: 127.0.0.1:$PORT
database: cairn.db
definitions:
  workflows: [$ROOT/examples/workflows]
  rules: [$ROOT/examples/rules]
  adapters: [$TMP/adapters]
  campuses: $ROOT/examples/campuses.yaml
log_level: warn
EOF
		# a benchmark is many clients from one address and few tokens:
		# the abuse limits (docs/security.md) would answer most with 429
		"$BUILD/cairnd" -c "$DIR/cairnd.yaml" --rate-limits off \
			>"$DIR/cairnd.log" 2>&1 &
		PID=$!
		_i=0
		while [ "$_i" -lt "${START_WAIT:-100}" ] && alive "$PID"; do
			if curl -fsS --max-time 1 -o /dev/null \
				"http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
				URL="http://127.0.0.1:$PORT"
				return 0
			fi
			sleep 0.1
			_i=$((_i + 1))
		done
		cp "$DIR/cairnd.log" "$TMP/cairnd.log"
		alive "$PID" && die "cairnd did not answer /healthz on port $PORT"
		wait "$PID"
		_rc=$?
		PID=""
		grep -qi 'in use' "$DIR/cairnd.log" ||
			die "cairnd exited with status $_rc at start-up"
		echo "bench: port $PORT was taken; retrying on another" >&2
	done
	die "cairnd would not start"
}

# Stops cairnd: HWM gets its peak resident KiB; a bad exit is remembered.
EXIT_BAD=""
stop_daemon() {
	HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
	kill -TERM "$PID"
	if wait_gone "$PID" 100; then
		wait "$PID"
		_rc=$?
	else
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
		_rc="hung (killed after 10 s)"
	fi
	[ "$_rc" = 0 ] || EXIT_BAD="$EXIT_BAD $1:$_rc"
	PID=""
}

# metric NAME: its value on the running cairnd
metric() {
	curl -fsS --max-time 5 "$URL/metrics" 2>/dev/null |
		awk -v k="$1" '$1 == k { print $2 }'
}

# die, with the log of the cairnd of the workload at hand
fail() {
	[ -n "${DIR:-}" ] && cp "$DIR/cairnd.log" "$TMP/cairnd.log" 2>/dev/null
	die "$@"
}

# repeat NAME COMMAND...: runs COMMAND RUNS times, each output line
# appended to $TMP/NAME.txt; stops the bench when one fails or cairnd dies.
repeat() {
	_name=$1
	shift
	: >"$TMP/$_name.txt"
	_i=1
	while [ "$_i" -le "$RUNS" ]; do
		_line=$("$@") || fail "$_name run $_i failed: $_line"
		echo "bench: $_name $_i/$RUNS: $_line" >&2
		echo "$_line" >>"$TMP/$_name.txt"
		if [ -n "$PID" ] && ! alive "$PID"; then
			fail "cairnd died during $_name"
		fi
		_i=$((_i + 1))
	done
}
