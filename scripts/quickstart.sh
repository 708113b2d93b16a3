#!/usr/bin/env bash
# README command (a): builds Release and runs the end-to-end jobs on data any
# Debian machine can install:
#   1. images: train a CNN on Fashion-MNIST (dataset-fashion-mnist) with
#      `tessera train`, evaluate the checkpoint with `tessera eval`;
#   2. language: fit a byte-level BPE to Debian's fortunes corpus and cut it
#      into token shards (`tessera data prepare`), pretrain a small GPT
#      (`tessera pretrain`), and sample from it (`tessera generate`);
#   3. fine-tuning: label fortunes by topic file (computers, politics,
#      science, work; every 5th fortune held out), fine-tune the pretrained
#      GPT into a topic classifier (`tessera finetune`), evaluate it
#      (`tessera eval`), and train the same classifier from scratch beside it.
# Output goes under ${OUT:-runs/quickstart}.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TESSERA_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
FORTUNES=${TESSERA_FORTUNES:-/usr/share/games/fortunes}
OUT=${OUT:-runs/quickstart}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_BENCH=OFF >/dev/null
ninja -C build -j"$(nproc)" tessera_cli mlp_fashion_mnist
rm -rf "$OUT"

echo "== 1. Fashion-MNIST: train a CNN, then evaluate its checkpoint =="
./build/tessera train --config examples/fashion_mnist_quick.json --data "$DATA" --out "$OUT/fashion_cnn"
./build/tessera eval --checkpoint "$OUT/fashion_cnn" --data "$DATA"

echo "== 2. fortunes: tokenizer + shards, pretrain a GPT, generate =="
./build/tessera data prepare --train-tokenizer bpe --vocab-size 2048 --input "$FORTUNES" --doc-separator % \
    --out "$OUT/fortunes_data"
./build/tessera pretrain --config examples/gpt_fortunes.json --data "$OUT/fortunes_data" --out "$OUT/gpt_fortunes"
./build/tessera generate --checkpoint "$OUT/gpt_fortunes" --prompt "A wise man" --prompt "Computers are" \
    --max-new-tokens 60 --temperature 0.8 --top-k 40 --seed 0
echo "== 3. fortunes by topic: fine-tune the pretrained GPT, and the same model from scratch =="
scripts/fortunes_topics.sh "$OUT/fortune_topics" "$FORTUNES" computers politics science work
for init in pretrained scratch; do
  extra=(); [ "$init" = scratch ] && extra=(--from-scratch)
  ./build/tessera finetune --config examples/finetune/fortunes_topics.json --base "$OUT/gpt_fortunes" \
      --train "$OUT/fortune_topics/train.tsv" --dev "$OUT/fortune_topics/dev.tsv" --out "$OUT/topics_$init" "${extra[@]}"
done
./build/tessera eval --checkpoint "$OUT/topics_pretrained" --data "$OUT/fortune_topics/dev.tsv" \
    --predictions "$OUT/topics_pretrained/dev_predictions.tsv"
for init in pretrained scratch; do
  python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); print("%10s: dev accuracy %.4f, macro F1 %.4f" % (sys.argv[2], s["dev_accuracy"], s["dev_macro_f1"]))' \
      "$OUT/topics_$init/summary.json" "$init" 2>/dev/null || grep -E '"dev_(accuracy|macro_f1)"' "$OUT/topics_$init/summary.json"
done
echo "quickstart: summaries in $OUT/fashion_cnn, $OUT/gpt_fortunes, $OUT/topics_pretrained and $OUT/topics_scratch (summary.json);"
echo "the full recipes are examples/fashion_mnist_cnn.json and examples/shakespeare_char.json (nanoGPT's Shakespeare-char GPT)"
