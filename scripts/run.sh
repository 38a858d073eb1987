#!/usr/bin/env bash
# Set up, provision both offline models, index seeds/, and serve the app on 127.0.0.1:7860.
# The local generator (Qwen2.5-Coder-1.5B, machine translations) is on unless ISNAD_GENERATOR says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --generator
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
export ISNAD_GENERATOR=${ISNAD_GENERATOR:-local}
.venv/bin/isnad ingest seeds/
exec .venv/bin/python app.py "$@"
