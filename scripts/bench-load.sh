#!/usr/bin/env bash
# Measures what `sigbench run` reaches on this machine with the open-model soak
# (scenarios/load/open-soak.yaml): sessions/s and ops/s, and the harness's own CPU time
# and peak memory. Two runs: against the embedded server (one process), and against a
# separate `sigbench serve` process so that the harness's cost is measured alone.
# Usage: scripts/bench-load.sh [scenario.yaml] [extra run args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-scenarios/load/open-soak.yaml}
shift || true
cargo build --release --quiet
# Honour CARGO_TARGET_DIR: the binary is where cargo put it.
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/sigbench"
work=$(mktemp -d)
trap 'kill "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

clk=$(getconf CLK_TCK)
cpu_of() { awk -v clk="$clk" '{ printf "%.2f", ($14 + $15) / clk }' "/proc/$1/stat"; }

echo "== embedded server: $scenario" >&2
/usr/bin/time -f "%U %S %M %e" -o "$work/time-embedded" \
  "$bin" run "$scenario" --report-dir "$work/embedded" --quiet --no-html "$@" || true

echo "== separate server process: $scenario" >&2
"$bin" serve --open --listen 127.0.0.1:0 > "$work/serve.out" 2>/dev/null &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" && break; sleep 0.1; done
url=$(sed 's/^listening on //' "$work/serve.out")
server_cpu_before=$(cpu_of "$server_pid")
/usr/bin/time -f "%U %S %M %e" -o "$work/time-separate" \
  "$bin" run "$scenario" --target "$url" --secret unused --report-dir "$work/separate" --quiet --no-html "$@" || true
server_cpu_after=$(cpu_of "$server_pid")
server_rss=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")

python3 - "$work" "$server_cpu_before" "$server_cpu_after" "$server_rss" <<'PY'
import json, glob, sys
work, cpu0, cpu1, server_rss = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
def one(kind):
    report = json.load(open(glob.glob(f"{work}/{kind}/*.json")[0]))
    user, sys_, rss_kib, wall = open(f"{work}/time-{kind}").read().split()[-4:]
    dur = report["meta"]["duration_ms"] / 1000
    ops = sum(c["count"] for c in report["codes"])
    cpu = float(user) + float(sys_)
    done = report["sessions"]["done"]
    return dict(kind=kind, sessions=done, failed=report["sessions"]["failed"],
                sps=done / dur, ops=ops / dur, cpu=cpu, cpu_per_session_ms=1000 * cpu / max(done, 1),
                rss_mib=int(rss_kib) / 1024, wall=float(wall), status=report["meta"]["status"])
rows = [one("embedded"), one("separate")]
print("| target | sessions | failed | sessions/s | ops/s | harness CPU s (user+sys) | CPU ms/session | harness peak RSS MiB | status |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    label = "embedded (harness + server in one process)" if r["kind"] == "embedded" else "separate `sigbench serve`"
    print(f"| {label} | {r['sessions']} | {r['failed']} | {r['sps']:.1f} | {r['ops']:.1f} | {r['cpu']:.2f} | {r['cpu_per_session_ms']:.3f} | {r['rss_mib']:.1f} | {r['status']} |")
print(f"\nseparate server process: {cpu1 - cpu0:.2f} s CPU during the run, peak RSS {server_rss / 1024:.1f} MiB")
PY
