#!/usr/bin/env bash
# Throughput of GET /pipelines on the secure demo: with a valid key, rate
# limits raised out of the way and the audit log on (one fsync per group
# commit, to a file on this disk), against the same server with security
# disabled. Needs wrk (apt-get install -y wrk).
#
#   scripts/load.sh            # wrk -t2 -c64 -d15s
#   DURATION=30s CONNS=128 scripts/load.sh
#   PROFILE=1 scripts/load.sh  # also writes a CPU profile of the secure server
set -euo pipefail

cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
DURATION=${DURATION:-15s}
PORT=${PORT:-18080}
ADDR=127.0.0.1:$PORT

command -v wrk >/dev/null || { echo "load.sh: wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/taskwire-load.XXXXXX")
AUDIT_DIR=${AUDIT_DIR:-$work} # the audit log's disk: the work dir unless told
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/loadserver" ./internal/loadserver

# A throwaway key for this run only.
export TASKWIRE_KEY_ADMIN_FULL="sk_load_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TASKWIRE_KEY_VIEWER_REPORTS="sk_load_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

start_server() { # $1: secure flag, $2...: more flags
	local secure=$1
	shift
	"$work/loadserver" -secure="$secure" -addr "$ADDR" -audit "$AUDIT_DIR/audit.jsonl" "$@" 2>"$work/server-$secure.log" &
	server_pid=$!
	for _ in $(seq 100); do
		if curl -fsS "http://$ADDR/healthz" >/dev/null 2>&1; then return 0; fi
		sleep 0.05
	done
	echo "load.sh: the server did not start:" >&2
	cat "$work/server-$secure.log" >&2
	exit 1
}

stop_server() {
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=
}

# run_wrk NAME [wrk header args...]: prints wrk's report, keeps Requests/sec.
run_wrk() {
	local name=$1
	shift
	echo "== $name: wrk -t$THREADS -c$CONNS -d$DURATION $* http://$ADDR/pipelines"
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "http://$ADDR/pipelines" | tee "$work/$name.txt"
	if grep -qE "Non-2xx or 3xx responses" "$work/$name.txt"; then
		echo "load.sh: $name got error responses" >&2
		exit 1
	fi
	awk '/^Requests\/sec:/ {print $2}' "$work/$name.txt" >"$work/$name.rps"
}

profile_flags=()
if [[ -n ${PROFILE:-} ]]; then profile_flags=(-cpuprofile "${PROFILE_OUT:-secure.cpu.pprof}"); fi

start_server true "${profile_flags[@]}"
curl -fsS -H "X-API-Key: $TASKWIRE_KEY_ADMIN_FULL" "http://$ADDR/pipelines" >/dev/null
run_wrk secure -H "X-API-Key: $TASKWIRE_KEY_ADMIN_FULL"
stop_server
# The log may have rotated (100 MB): count and verify every file, oldest first.
shopt -s nullglob
audit_files=("$AUDIT_DIR"/audit.jsonl.* "$AUDIT_DIR/audit.jsonl")
shopt -u nullglob
records=$(cat "${audit_files[@]}" | wc -l)
go run ./cmd/taskwire audit verify "${audit_files[@]}" || echo "load.sh: the audit log of the secure run does not verify" >&2

start_server false
run_wrk insecure
stop_server

secure=$(cat "$work/secure.rps")
insecure=$(cat "$work/insecure.rps")
echo
echo "audit records written: $records in ${#audit_files[@]} file(s)"
echo "secure   (key, limits 1e9/s, audit on): $secure requests/sec"
echo "insecure (security disabled):           $insecure requests/sec"
awk -v s="$secure" -v i="$insecure" 'BEGIN { printf "ratio secure/insecure: %.3f (goal: at least 0.7)\n", s / i }'
