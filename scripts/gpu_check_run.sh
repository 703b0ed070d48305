#!/usr/bin/env bash
# Run `python -m emotion_lab.bench.gpu_check` on a GPU machine without network: the wheels that
# scripts/gpu_check_wheels.sh fetched go to a private folder, the project runs from this checkout.
# Usage: scripts/gpu_check_run.sh [WHEEL_DIR] [-- gpu_check args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.whl}
shift || true
[ "${1:-}" = "--" ] && shift
site=$(mktemp -d)
python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$dir"/*.whl
export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 WANDB_MODE=offline
exec python3 -m emotion_lab.bench.gpu_check "$@"
