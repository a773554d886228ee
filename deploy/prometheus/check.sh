#!/usr/bin/env bash
# The observability kit's check: promtool on the rules and their unit tests,
# then every alert, recording rule and dashboard query against a real
# Prometheus scraping a real server (check.py; see its docstring).
# Usage: deploy/prometheus/check.sh SERVER_BINARY
# Needs prometheus, promtool (Debian package prometheus), openssl, python3;
# root for the disk-full server (a tmpfs mount; skipped elsewhere unless CI
# is set). Takes about 20 seconds (traffic runs until the expected alerts
# are active, at most 45 s).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 SERVER_BINARY" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
echo "== promtool check rules"
promtool check rules recording.yml alerts.yml
echo "== promtool test rules"
promtool test rules ./*_test.yml
echo "== every query against a real Prometheus and server"
exec python3 check.py "$1"
