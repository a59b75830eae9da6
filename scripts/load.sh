#!/usr/bin/env bash
# Throughput of GET /pipelines, measured in one run for four servers (see
# internal/loadserver): a bare net/http handler answering the same JSON; the
# generated server with security disabled; and the generated server secured
# (a valid key, every rate limit raised to 1e9/s, the audit log on, on this
# disk) with `sync: interval`, then with `sync: always`. Each concurrency in
# CONNS is measured for every server in turn, RUNS times; the ratios of each
# run come from the same run. Needs wrk (apt-get install -y wrk).
#
#   scripts/load.sh                       # wrk -t2 -d10s, -c32 and -c64, 3 runs
#   CONNS="64 256" RUNS=1 DURATION=30s scripts/load.sh
#   PROFILE=1 scripts/load.sh             # CPU profiles of the secured servers
set -euo pipefail

cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
CONNS=${CONNS:-32 64}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
PORT=${PORT:-18080}
MODES=${MODES:-bare insecure interval always}
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

# Throwaway keys for this run only.
export TASKWIRE_KEY_ADMIN_FULL="sk_load_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TASKWIRE_KEY_VIEWER_REPORTS="sk_load_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

start_server() { # $1: mode, $2: tag for file names
	local mode=$1 tag=$2 flags=()
	if [[ -n ${PROFILE:-} && ($mode == interval || $mode == always) ]]; then
		flags=(-cpuprofile "${PROFILE_DIR:-.}/$tag.cpu.pprof")
	fi
	rm -f "$AUDIT_DIR"/audit.jsonl*
	"$work/loadserver" -mode "$mode" -addr "$ADDR" -audit "$AUDIT_DIR/audit.jsonl" "${flags[@]}" 2>"$work/server.log" &
	server_pid=$!
	for _ in $(seq 100); do
		if curl -fsS "http://$ADDR/healthz" >/dev/null 2>&1; then return 0; fi
		sleep 0.05
	done
	echo "load.sh: the $mode server did not start:" >&2
	cat "$work/server.log" >&2
	exit 1
}

stop_server() {
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=
}

# measure MODE CONNS TAG: one wrk run against a fresh server; prints req/s.
measure() {
	local mode=$1 conns=$2 tag=$3 key=()
	start_server "$mode" "$tag"
	if [[ $mode == interval || $mode == always ]]; then key=(-H "X-API-Key: $TASKWIRE_KEY_ADMIN_FULL"); fi
	curl -fsS "${key[@]}" "http://$ADDR/pipelines" >/dev/null
	wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "${key[@]}" "http://$ADDR/pipelines" >"$work/$tag.txt"
	stop_server
	if grep -qE "Non-2xx or 3xx responses|Socket errors" "$work/$tag.txt"; then
		cat "$work/$tag.txt" >&2
		echo "load.sh: $tag got errors" >&2
		exit 1
	fi
	if [[ $mode == interval || $mode == always ]]; then
		# The log may have rotated (100 MB): verify every file, oldest first.
		shopt -s nullglob
		local files=("$AUDIT_DIR"/audit.jsonl.* "$AUDIT_DIR/audit.jsonl")
		shopt -u nullglob
		"$work/taskwire" audit verify "${files[@]}" >/dev/null || { echo "load.sh: the audit log of $tag does not verify" >&2; exit 1; }
	fi
	awk '/^Requests\/sec:/ {print $2}' "$work/$tag.txt"
}

go build -o "$work/taskwire" ./cmd/taskwire
echo "wrk -t$THREADS -d$DURATION --latency http://$ADDR/pipelines; $RUNS run(s); nproc $(nproc)"
results=$work/results.txt
: >"$results"
for run in $(seq "$RUNS"); do
	for conns in $CONNS; do
		line="run $run -c$conns:"
		for mode in $MODES; do
			rps=$(measure "$mode" "$conns" "r$run-c$conns-$mode")
			echo "$run $conns $mode $rps" >>"$results"
			line="$line $mode=$rps"
		done
		echo "$line"
	done
done

# Ratios per run, then their medians over the runs.
echo
awk -v conns_list="$CONNS" -v runs="$RUNS" '
	{ rps[$1, $2, $3] = $4 }
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		np = split("insecure/bare interval/insecure always/insecure", pairs, " ")
		nc = split(conns_list, cs, " ")
		printf "%-6s %-4s", "conns", "run"
		for (k = 1; k <= np; k++) printf " %18s", pairs[k]
		printf "\n"
		for (ci = 1; ci <= nc; ci++) {
			c = cs[ci]
			for (r = 1; r <= runs; r++) {
				printf "-c%-5s %-4s", c, r
				for (k = 1; k <= np; k++) {
					split(pairs[k], ab, "/")
					v = (rps[r, c, ab[2]] > 0) ? rps[r, c, ab[1]] / rps[r, c, ab[2]] : 0
					ratio[k, r] = v
					printf " %18.3f", v
				}
				printf "\n"
			}
			printf "-c%-5s %-4s", c, "med"
			for (k = 1; k <= np; k++) { for (r = 1; r <= runs; r++) tmp[r] = ratio[k, r]; printf " %18.3f", median(tmp, runs) }
			printf "   (goals: interval/insecure >= 0.7, always/insecure >= 0.5)\n"
		}
	}' "$results"
