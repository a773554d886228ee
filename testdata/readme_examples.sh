#!/usr/bin/env bash
# Runs the examples of README.md against a real server, so the README stays
# true. Usage: testdata/readme_examples.sh PATH-TO-BINARY
#
# It reads the ```sh blocks between <!-- examples:begin --> and
# <!-- examples:end -->. A line starting with "curl" or "amaters-server" is a
# command; the "# " lines right after it are its expected output (a bash
# glob, so * matches anything). The server runs on the documented default
# ports 7878 and 9090 with a temporary data folder and the memory engine.
set -u
bin=${1:?usage: readme_examples.sh BINARY}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
"$bin" start --engine memory --data-dir "$work/data" >"$work/log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs -o /dev/null http://127.0.0.1:9090/readyz && break; sleep 0.1; done
curl -fs -o /dev/null http://127.0.0.1:9090/readyz || { echo "FAIL server did not start"; cat "$work/log"; exit 1; }

awk '/<!-- examples:begin -->/{on=1} /<!-- examples:end -->/{on=0} on' README.md |
  awk '/^```sh/{code=1; next} /^```/{code=0} code' >"$work/examples"

pass=0 fail=0 cmd="" expect=()
run_one() {
  [ -z "$cmd" ] && return
  local got
  got=$(PATH="$(dirname "$bin"):$PATH" bash -c "$cmd" 2>&1)
  local want pat
  want=$(printf '%s\n' "${expect[@]+"${expect[@]}"}")
  # Only * is a wildcard: escape the other glob characters.
  pat=${want//\\/\\\\}
  pat=${pat//[/\\[}
  pat=${pat//]/\\]}
  pat=${pat//\?/\\?}
  if [ ${#expect[@]} -eq 0 ] || [[ "$got" == $pat ]]; then
    pass=$((pass+1))
  else
    fail=$((fail+1))
    printf 'FAIL %s\n  want: %s\n  got:  %s\n' "$cmd" "$want" "$got"
  fi
  cmd="" expect=()
}
while IFS= read -r line; do
  case "$line" in
    "# "*) [ -n "$cmd" ] && expect+=("${line#\# }") ;;
    curl*|amaters-server*) run_one; cmd=$line ;;
    *) run_one ;;
  esac
done <"$work/examples"
run_one
# The last example stops the server: it must exit, and with status 0.
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then
  echo "FAIL the server is still running after the stop example"; fail=$((fail+1))
else
  wait $pid; rc=$?
  [ $rc = 0 ] || { echo "FAIL the server exited with status $rc"; cat "$work/log"; fail=$((fail+1)); }
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
