#!/usr/bin/env bash
# Throughput of GET /pipelines, measured in one run for four servers (see
# internal/loadserver): a bare net/http handler answering the same JSON; the
# generated server with security disabled; and the generated server secured
# (a valid key, every rate limit raised to 1e9/s, the audit log on, on this
# disk) with `sync: interval`, then with `sync: always`.
#
# The four servers run side by side on four ports. Each measurement of a
# concurrency interleaves them: ROUNDS rounds, each giving every server a
# wrk slice of SLICE, so that the noise of a shared machine (other processes
# compiling, disk traffic) falls on all of them alike. The ratios of a run
# come from that run; RUNS runs give the medians. Also printed: each server's
# CPU time (user + system, from /proc) per request. Needs wrk (apt-get
# install -y wrk).
#
#   scripts/load.sh                          # -c32 and -c64, 3 runs of 5 x 2s slices per server
#   CONNS="64 256" RUNS=1 ROUNDS=10 scripts/load.sh
#   PROFILE=1 scripts/load.sh                # CPU profiles of the generated servers (in PROFILE_DIR)
#   MODES="insecure noaudit interval" scripts/load.sh   # noaudit: secured, audit log off
set -euo pipefail

cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
CONNS=${CONNS:-32 64}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-5}
SLICE=${SLICE:-2s}
PORT=${PORT:-18080}
MODES=${MODES:-bare insecure interval always}

command -v wrk >/dev/null || { echo "load.sh: wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/taskwire-load.XXXXXX")
AUDIT_DIR=${AUDIT_DIR:-$work} # the audit logs' disk: the work dir unless told
declare -A pid port
cleanup() {
	for m in "${!pid[@]}"; do kill "${pid[$m]}" 2>/dev/null || true; wait "${pid[$m]}" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/loadserver" ./internal/loadserver
go build -o "$work/taskwire" ./cmd/taskwire

# Throwaway keys for this run only.
export TASKWIRE_KEY_ADMIN_FULL="sk_load_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TASKWIRE_KEY_VIEWER_REPORTS="sk_load_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

secure() { [[ $1 == interval || $1 == always || $1 == noaudit ]]; }

i=0
for mode in $MODES; do
	port[$mode]=$((PORT + i))
	i=$((i + 1))
	flags=()
	if [[ -n ${PROFILE:-} && $mode != bare ]]; then flags=(-cpuprofile "${PROFILE_DIR:-$PWD}/$mode.cpu.pprof"); fi
	mkdir -p "$AUDIT_DIR/$mode"
	"$work/loadserver" -mode "$mode" -addr "127.0.0.1:${port[$mode]}" -audit "$AUDIT_DIR/$mode/audit.jsonl" "${flags[@]}" 2>"$work/$mode.log" &
	pid[$mode]=$!
done
for mode in $MODES; do
	for _ in $(seq 100); do
		if curl -fsS "http://127.0.0.1:${port[$mode]}/healthz" >/dev/null 2>&1; then continue 2; fi
		sleep 0.05
	done
	echo "load.sh: the $mode server did not start:" >&2
	cat "$work/$mode.log" >&2
	exit 1
done

cpu_ticks() { sed 's/^.*) //' "/proc/${pid[$1]}/stat" | awk '{print $12 + $13}'; }

# slice MODE CONNS DURATION: one wrk run; prints "requests seconds cpu_ticks".
slice() {
	local mode=$1 conns=$2 d=$3 key=() t0 t1 out
	if secure "$mode"; then key=(-H "X-API-Key: $TASKWIRE_KEY_ADMIN_FULL"); fi
	t0=$(cpu_ticks "$mode")
	out=$(wrk -t"$THREADS" -c"$conns" -d"$d" "${key[@]}" "http://127.0.0.1:${port[$mode]}/pipelines")
	t1=$(cpu_ticks "$mode")
	if grep -qE "Non-2xx or 3xx responses|Socket errors" <<<"$out"; then
		echo "$out" >&2
		echo "load.sh: $mode got errors" >&2
		exit 1
	fi
	awk -v ticks=$((t1 - t0)) '/requests in/ { sub(/s,$/, "", $4); print $1, $4, ticks }' <<<"$out"
}

for mode in $MODES; do slice "$mode" 32 1s >/dev/null; done # warm up

hz=$(getconf CLK_TCK)
echo "wrk -t$THREADS, $ROUNDS rounds of $SLICE per server per run, $RUNS run(s), nproc $(nproc)"
results=$work/results.txt
: >"$results"
for run in $(seq "$RUNS"); do
	for conns in $CONNS; do
		declare -A n=() s=() t=()
		for _ in $(seq "$ROUNDS"); do
			for mode in $MODES; do
				read -r dn ds dt < <(slice "$mode" "$conns" "$SLICE")
				n[$mode]=$(( ${n[$mode]:-0} + dn ))
				s[$mode]=$(awk -v a="${s[$mode]:-0}" -v b="$ds" 'BEGIN { print a + b }')
				t[$mode]=$(( ${t[$mode]:-0} + dt ))
			done
		done
		line="run $run -c$conns:"
		for mode in $MODES; do
			read -r rps cpu < <(awk -v n="${n[$mode]}" -v s="${s[$mode]}" -v t="${t[$mode]}" -v hz="$hz" 'BEGIN { printf "%.0f %.1f\n", n / s, t / hz * 1e6 / n }')
			echo "$run $conns $mode $rps $cpu" >>"$results"
			line="$line $mode=$rps req/s ($cpu µs CPU/req)"
		done
		echo "$line"
	done
done

for mode in $MODES; do
	kill -TERM "${pid[$mode]}"
	wait "${pid[$mode]}" || true
	unset "pid[$mode]"
	if [[ $mode == interval || $mode == always ]]; then
		# The log may have rotated (100 MB): verify every file, oldest first.
		shopt -s nullglob
		files=("$AUDIT_DIR/$mode"/audit.jsonl.* "$AUDIT_DIR/$mode/audit.jsonl")
		shopt -u nullglob
		if ! verdict=$("$work/taskwire" audit verify "${files[@]}"); then
			echo "$verdict" >&2
			echo "load.sh: the audit log of $mode does not verify" >&2
			exit 1
		fi
		echo "audit log of $mode: ${verdict%%; last hash*}"
	fi
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
