#!/usr/bin/env bash
# Fetch, on a machine with PyPI access, the wheels `make gpu-check` needs on an offline GPU machine
# that already has PyTorch, Lightning, torchmetrics, timm and scikit-learn (a typical CUDA image)
# but none of Hydra, Optuna or Hyperopt. Usage: scripts/gpu_check_wheels.sh [DIR] [PYTHON_VERSION]
# Then on the GPU machine: scripts/gpu_check_run.sh [DIR]
set -euo pipefail
dir=${1:-.whl}
py=${2:-3.12}
mkdir -p "$dir"
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
pip=(python3 -m pip download --quiet --no-deps --only-binary=:all: --implementation cp
     --python-version "$py" "${platforms[@]}" -d "$dir")
# the versions the project's own environment runs, where it has one
pin() {
  local v
  v=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null) \
    && echo "$1==$v" || echo "$1"
}
names=(hydra-core omegaconf optuna alembic mako colorlog sqlalchemy greenlet hyperopt py4j future)
specs=()
for n in "${names[@]}"; do specs+=("$(pin "$n")"); done
"${pip[@]}" "${specs[@]}"
# antlr4's runtime for omegaconf is published as a source archive only: build its pure wheel
python3 -m pip wheel --quiet --no-deps -w "$dir" antlr4-python3-runtime==4.9.3
du -sh "$dir"
