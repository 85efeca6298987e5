#!/usr/bin/env bash
# Install, prepare the bundled MovieLens demo (migrate, ingest, train) and serve it at
# http://127.0.0.1:8000 with the embedded defaults (SQLite, in-process memory, rules planner).
set -euo pipefail
cd "$(dirname "$0")/.."

# The install is quiet and takes a minute or two the first time: a live progress line says
# how far it is (packages in place in .venv, seconds so far); pip's own output goes to a log
# that is shown only if the install fails.
log="$(mktemp "${TMPDIR:-/tmp}/recagent-setup.XXXXXX")"
bash scripts/setup.sh >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' INT TERM
start=$SECONDS
last=-1
while kill -0 "$pid" 2>/dev/null; do
  n="$( (ls -d .venv/lib/python3*/site-packages/*.dist-info 2>/dev/null || true) | wc -l)"
  line="installing recagent and its dependencies into .venv: $n packages in place, $((SECONDS - start)) s"
  if [ -t 1 ]; then
    printf '\r%s ' "$line"
  elif [ $(((SECONDS - start) / 10)) -ne "$last" ]; then  # a log, not a terminal: every 10 s
    last=$(((SECONDS - start) / 10))
    echo "$line"
  fi
  sleep 1
done
status=0
wait "$pid" || status=$?
trap - INT TERM
[ -t 1 ] && printf '\n'
if [ "$status" -ne 0 ]; then
  cat "$log" >&2
  echo "recagent: the install failed (exit $status); pip's output is above and in $log" >&2
  exit "$status"
fi
rm -f "$log"
echo "recagent: installed in $((SECONDS - start)) s"

export OPENBLAS_NUM_THREADS=1
exec .venv/bin/recagent demo "$@"
