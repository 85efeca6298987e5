#!/usr/bin/env bash
# Create/refresh the project's virtualenv (.venv) and install recagent into it.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh dev      + test/lint tools and the example plug-in
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# the stock pip 23 backtracks badly on the langchain stack: upgrade first
.venv/bin/python -m pip install --quiet --upgrade "pip>=24.2"
echo "installing recagent and its dependencies into .venv (a minute or two the first time)..."
if [ "${1:-}" = "dev" ]; then
  .venv/bin/python -m pip install --quiet -e ".[dev,spark]"
  for plugin in examples/plugins/*/; do
    [ -f "$plugin/pyproject.toml" ] && .venv/bin/python -m pip install --quiet --no-deps -e "$plugin"
  done
else
  .venv/bin/python -m pip install --quiet -e .
fi
echo "installed."
