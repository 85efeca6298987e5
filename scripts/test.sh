#!/usr/bin/env bash
# The whole test suite from a fresh machine: install, start services, lint, type-check, test.
# System packages it may install with apt-get (sudo when not root), each only when missing:
#   chromium, chromium-driver  headless browser for tests/e2e (the widget in a real browser)
#   docker-compose             Debian's compose v1, only when the docker CLI is present without
#                              a compose plugin: the tests run `compose config` on the compose file
#   openjdk-17-jre-headless    Java for the Spark training tests (only when no `java`)
#   libpostgresql-jdbc-java, libxerial-sqlite-jdbc-java
#                              JDBC driver jars for `recagent train --engine spark --jdbc`
# PostgreSQL and Redis must be installed; scripts/services.sh only starts them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
echo "== services (may apt-get install chromium, docker-compose, Java, JDBC jars; see above)"
bash scripts/services.sh
pkgs=""; command -v java >/dev/null 2>&1 || pkgs=" openjdk-17-jre-headless"
[ -f /usr/share/java/postgresql.jar ] || pkgs="$pkgs libpostgresql-jdbc-java"
[ -f /usr/share/java/sqlite-jdbc.jar ] || pkgs="$pkgs libxerial-sqlite-jdbc-java"
if [ -n "${pkgs// /}" ]; then
  echo "installing Debian packages$pkgs for the Spark tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $pkgs >/dev/null
fi
export OPENBLAS_NUM_THREADS=1
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== import layers"; .venv/bin/lint-imports --no-cache  # contracts: [tool.importlinter]
echo "== pytest"; .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
