#!/usr/bin/env bash
# Writes tests/fixtures/checkpoints_v1/: small checkpoints of `tessera train`,
# `tessera pretrain` and `tessera finetune` as the main of 2026-12-07 (before
# the one-loop restructuring, commit 232fe4f) wrote them, and golden.json with
# what that build read back from them. tests/checkpoint/test_old_checkpoints.cpp
# checks that every later build still loads, evaluates, generates from and
# resumes them the same way. Run once, with the old binary; never regenerate
# with a new one (that would defeat the test).
# Usage: tests/checkpoint/make_v1_fixtures.sh BUILD_DIR
set -euo pipefail
T=$(realpath "${1:?usage: make_v1_fixtures.sh BUILD_DIR}")/tessera
root=$(cd "$(dirname "$0")/../.." && pwd)
F=$root/tests/fixtures/checkpoints_v1
rm -rf "$F" && mkdir -p "$F" && cd "$F"   # relative paths: checkpoints record them

# ---- tessera train: iris MLP with dropout (per-module RNG states), 2 checkpoints ----
cp /usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv iris.csv
cat > train_recipe.json <<'J'
{"task": "classification",
 "data": {"kind": "csv", "format": "sklearn", "test_fraction": 0.2, "validation_fraction": 0.2, "stratify": true, "standardize": true},
 "model": {"type": "mlp", "hidden": [16], "activation": "relu", "dropout": 0.1},
 "optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": 0.01},
 "schedule": {"type": "cosine", "warmup_steps": 2},
 "train": {"steps": 12, "batch_size": 16, "eval_every": 6, "log_every": 3, "seed": 3, "threads": 1,
           "checkpoint": {"every": 6, "keep_last": 2}}}
J
$T train -q --config train_recipe.json --data iris.csv --out train_run
$T eval --checkpoint train_run --data iris.csv --out train_eval >/dev/null

# ---- tessera pretrain: a char GPT with dropout, checkpoints at steps 3 and 6 ----
mkdir -p corpus
for d in 0 1 2 3 4 5 6 7 8 9; do
  for k in 0 1 2 3 4 5; do echo "to be or not to be, that is line $(( (d + k) % 7 )) of the play."; done > corpus/$d.txt
done
$T data prepare --train-tokenizer char --input corpus --val-docs 2 --out shards >/dev/null
cat > pretrain_recipe.json <<'J'
{"model": {"block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16, "dropout": 0.1},
 "optimizer": {"type": "adamw", "lr": 0.01}, "schedule": {"type": "cosine", "warmup_steps": 1},
 "train": {"steps": 6, "batch_size": 4, "eval_every": 3, "eval_batches": 1, "seed": 5, "threads": 1,
           "checkpoint": {"every": 3, "keep_last": 2}}}
J
$T pretrain -q --config pretrain_recipe.json --data shards --out pretrain_run
$T generate --checkpoint pretrain_run --prompt "to be" --max-new-tokens 8 --temperature 0 --no-stream --format json --threads 1 > pretrain_generate.json
$T generate --checkpoint pretrain_run --prompt "to be" --max-new-tokens 8 --temperature 1 --seed 7 --no-stream --format json --threads 1 > pretrain_sample.json
$T eval --checkpoint pretrain_run --data corpus/0.txt --seq-len 16 --out pretrain_eval >/dev/null

# ---- tessera finetune: the GPT above into a 2-label classifier, full and LoRA ----
{ printf 'label\ttext\n'
  for i in $(seq 0 19); do printf 'a\tto be or not %d\n' $((i % 7)); printf 'b\tthe play line %d\n' $((i % 7)); done; } > ft_train.tsv
{ printf 'label\ttext\n'
  for i in 1 4 6; do printf 'a\tnot to be %d\n' "$i"; printf 'b\tline of the %d\n' "$i"; done; } > ft_dev.tsv
common="--base pretrain_run --train ft_train.tsv --dev ft_dev.tsv --epochs 2 --batch-size 8 --lr 0.003 --max-len 16 --threads 1 --seed 2 -q"
$T finetune $common --mode full --out finetune_full >/dev/null
$T finetune $common --mode lora --lora-rank 2 --out finetune_lora >/dev/null
$T eval --checkpoint finetune_full --data ft_dev.tsv --predictions finetune_full_predictions.tsv --out finetune_full_eval >/dev/null
$T eval --checkpoint finetune_lora --base pretrain_run --data ft_dev.tsv --predictions finetune_lora_predictions.tsv --out finetune_lora_eval >/dev/null
echo "written by $T at commit $(git -C "$root" rev-parse --short HEAD) on $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)" > MADE_BY.txt
echo "fixtures in $F:"; du -sh "$F"
