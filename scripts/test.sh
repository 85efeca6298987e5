#!/usr/bin/env bash
# The whole test suite from a fresh machine: install, start services, lint, type-check, test.
# System packages it may install with apt-get (sudo when not root), each only when missing:
#   chromium, chromium-driver  headless browser for tests/e2e (the widget in a real browser)
#   docker-compose             Debian's compose v1, only when the docker CLI is present without
#                              a compose plugin: the tests run `compose config` on the compose file
# PostgreSQL and Redis must be installed; scripts/services.sh only starts them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
echo "== services (may apt-get install chromium, docker-compose; see above)"
bash scripts/services.sh
export OPENBLAS_NUM_THREADS=1
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
