#!/usr/bin/env bash
# Set up everything the tests need (venv, package, both offline models, PostgreSQL + pgvector, Chromium) and run the whole suite.
#   bash scripts/test.sh --fast    ruff, then the tests that need no model, database or browser (under a minute;
#                                  sets up only the venv)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fast" ]; then
  shift
  bash scripts/setup.sh --venv-only
  .venv/bin/ruff check --quiet . && .venv/bin/ruff format --check --quiet .
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
  exec .venv/bin/python -m pytest -q -m "not model and not postgres and not browser and not llm" "$@"
fi
bash scripts/setup.sh --generator
.venv/bin/ruff check --quiet . && .venv/bin/ruff format --check --quiet .  # lint and format (pyproject.toml)
bash scripts/postgres.sh  # PostgreSQL 15 + pgvector for the PostgreSQL store's tests
if [ ! -x /usr/bin/chromium ]; then  # the browser tests drive the system Chromium through Playwright
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
.venv/bin/python -m pytest -q -ra "$@"
