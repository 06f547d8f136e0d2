#!/usr/bin/env bash
# Renders a sigbench HTML report to a PNG with headless Chromium, so a person (or a
# review) can look at the page exactly as a browser draws it.
#
#   scripts/render-report.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
#
# OUT.png defaults to the report's name with .png; the window defaults to 1280x2400 (the
# screenshot is the window: raise the height for long reports). Needs Debian's
# `chromium` package (`apt-get install -y chromium`); set CHROMIUM to use another binary.
# The browser runs with networking features off and a throw-away profile; the report
# itself loads nothing from anywhere.
set -euo pipefail

usage() {
  echo "usage: $0 REPORT.html [OUT.png] [WIDTHxHEIGHT]" >&2
  exit 2
}

[[ $# -ge 1 && $# -le 3 ]] || usage
report=$1
[[ -f $report ]] || { echo "error: $report: no such file" >&2; exit 2; }
out=${2:-${report%.html}.png}
size=${3:-1280x2400}
[[ $size =~ ^[0-9]+x[0-9]+$ ]] || usage

browser=${CHROMIUM:-}
if [[ -z $browser ]]; then
  for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
      browser=$candidate
      break
    fi
  done
fi
if [[ -z $browser ]]; then
  echo "error: no Chromium found; install it with: apt-get install -y chromium" >&2
  exit 2
fi

abs_report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
abs_out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# Chromium prints harmless noise on stderr in containers (dbus, GPU); keep it unless the
# screenshot fails.
log=$profile/chromium.log
if ! timeout 60 "$browser" \
  --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-default-apps --disable-extensions --hide-scrollbars \
  --user-data-dir="$profile" \
  --window-size="${size/x/,}" \
  --screenshot="$abs_out" \
  "file://$abs_report" >"$log" 2>&1; then
  cat "$log" >&2
  echo "error: chromium failed to render $report" >&2
  exit 1
fi
if [[ ! -s $abs_out ]]; then
  cat "$log" >&2
  echo "error: chromium wrote no screenshot" >&2
  exit 1
fi
echo "$out"
