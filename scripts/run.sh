#!/usr/bin/env bash
# Set up, provision the offline models, index seeds/, and serve the app on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
.venv/bin/isnad ingest seeds/
.venv/bin/isnad search "When did Iraq and the US agree on a plan to redeploy coalition forces outside the country?" --k 3
.venv/bin/isnad search "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف خارج البلاد؟" --k 3
