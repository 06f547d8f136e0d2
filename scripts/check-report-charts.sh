#!/usr/bin/env bash
# Renders the report charts in headless Chromium and checks they draw: a 20-metric
# open-model run with thresholds (log latency axes, threshold lines, planned vs achieved
# arrivals, sessions in flight, the 20-series palette), the shipped mix under a ramping
# closed model (the flows section, sessions in flight as the ramp ran) and a
# `sigbench compare` page.
#
#   scripts/check-report-charts.sh [OUT_DIR]
#
# OUT_DIR (default target/report-charts) receives the reports and report.png /
# compare.png for a person to look at. Installs Debian's chromium when it is missing
# and we are root (CI); otherwise say how. Uses the debug build (`cargo build`).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/report-charts}
mkdir -p "$out"

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
  && [[ -z ${CHROMIUM:-} ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (apt-get)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: chromium is missing; install it with: apt-get install -y chromium" >&2
    exit 2
  fi
fi

cargo build --quiet
bin=target/debug/sigbench

# Six call rounds of three steps each, plus login and session: 20 metrics.
scenario=$out/charts.yaml
{
  cat <<'YAML'
name: report-charts
roles:
  caller: {}
  callee: {}
load:
  arrival:
    - { ramp: 5/s..40/s, over: 3s }
    - { hold: 40/s, for: 3s }
  max_in_flight: 100
  max_duration: 30s
steps:
YAML
  for i in 1 2 3 4 5 6; do
    cat <<YAML
  - name: call $i
    as: caller
    call: { type: 2, account: "\${callee}", requestId: "\${session}-$i" }
    save: { cid$i: data.channel.channelId }
  - name: invite $i delivered
    as: callee
    await: INVITE
    match: { from: "\${caller}", requestId: "\${session}-$i" }
    within: 2s
  - name: hang up $i
    as: caller
    close: { channelId: "\${cid$i}" }
YAML
  done
  cat <<'YAML'
thresholds:
  call 1: { p99: 50ms, p50: 20ms }
  invite 1 delivered: { p99: 1ms }
  session: { p99: 2s }
YAML
} >"$scenario"

rm -rf "$out/base" "$out/new"
for side in base new; do
  # Exit 1 is fine here: the 1 ms threshold may fail, which draws a failed limit line.
  "$bin" run "$scenario" --report-dir "$out/$side" --quiet || [[ $? -eq 1 ]]
done
base_json=$(ls "$out"/base/*.json)
new_json=$(ls "$out"/new/*.json)
new_html=${new_json%.json}.html
"$bin" compare "$base_json" "$new_json" --max-regression 'call 1.p99=1000%' \
  --html "$out/compare.html" --quiet

# The page has every new chart before we look at pixels.
for needle in 'latency (log scale)' 'class="limit' 'Arrival rate' 'Sessions in flight' \
  's19 dashed' 'class="series planned"' 'class="series started"'; do
  grep -q -- "$needle" "$new_html" || { echo "error: $new_html lacks '$needle'" >&2; exit 1; }
done
grep -q 'class="series base"' "$out/compare.html" \
  || { echo "error: the compare page lacks the base curves" >&2; exit 1; }

# The mix, its concurrency ramped up and held: a flows section and the ramp in flight.
rm -rf "$out/ramp"
"$bin" run scenarios/load/mix.yaml --report-dir "$out/ramp" --quiet \
  --set 'load={stages: [{ramp: 2..12, over: 2s}, {hold: 12, for: 1s}]}' || [[ $? -eq 1 ]]
ramp_json=$(ls "$out"/ramp/*.json)
ramp_html=${ramp_json%.json}.html
for needle in '<section id="flows">' '<td>accept</td>' '<td>cancel</td>' 'Sessions in flight' \
  'class="series in-flight-end"'; do
  grep -q -- "$needle" "$ramp_html" || { echo "error: $ramp_html lacks '$needle'" >&2; exit 1; }
done

scripts/render-report.sh "$new_html" "$out/report.png" 1280x6400 >/dev/null
scripts/render-report.sh "$out/compare.html" "$out/compare.png" 1280x3200 >/dev/null
scripts/render-report.sh "$ramp_html" "$out/ramp.png" 1280x4000 >/dev/null
for png in "$out/report.png" "$out/compare.png" "$out/ramp.png"; do
  # A blank page compresses to a few KiB; a page of charts does not.
  size=$(wc -c <"$png")
  if [[ $size -lt 50000 ]]; then
    echo "error: $png is only $size bytes: the page did not render" >&2
    exit 1
  fi
done
echo "rendered: $out/report.png $out/compare.png $out/ramp.png"
