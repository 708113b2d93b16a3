#!/usr/bin/env bash
# Makes the Python venv that bench/run.sh uses for the PyTorch side: the current
# PyTorch release from PyPI (not Debian's python3-torch 1.13), outside the repo.
# The x86-64 wheel pulls CUDA libraries too (several GB); only the CPU part is used.
# Usage: bench/setup_torch.sh [VENV_DIR]   (default <repo>/../venv-torch, or $TORCH_VENV)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${1:-${TORCH_VENV:-$(cd "$ROOT/.." && pwd)/venv-torch}}
PYTHON=${PYTHON:-python3}

"$PYTHON" -m venv "$VENV" || {
  echo "setup_torch.sh: '$PYTHON -m venv' failed; on Debian install python3-venv" >&2
  exit 1
}
"$VENV/bin/pip" install --upgrade pip
"$VENV/bin/pip" install torch numpy
"$VENV/bin/python" - <<'PY'
import torch
print("torch", torch.__version__, "| threads", torch.get_num_threads())
print(torch.__config__.show())
PY
echo "venv ready: $VENV (bench/run.sh finds it there, or set TORCH_VENV=$VENV)"
