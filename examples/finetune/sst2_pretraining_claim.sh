#!/usr/bin/env bash
# The pretraining claim on SST-2: does Tessera's own pretraining on unlabeled
# text make a better classifier than the same model trained from scratch?
#   1. the sentences/phrases of GLUE SST-2 train, labels dropped, one document
#      per line -> a 4096-token BPE and token shards (`tessera data prepare`);
#   2. a small GPT pretrained on them (examples/gpt_sst2.json);
#   3. fine-tuned on the sentence-level labeled split (6,920 sentences), and
#      the same architecture from scratch, 3 seeds each
#      (examples/finetune/sst2_sentences.json); each evaluated on the 872 dev
#      and the 1,821 labeled test sentences (`tessera eval`);
#   4. OUT/claim.json: mean and spread (sample std, min, max) per arm.
# Usage: examples/finetune/sst2_pretraining_claim.sh [OUT] (default runs/sst2_claim); SEEDS="1 2 3"
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/sst2_claim}
SST=${SST2:-../shared/data/sst2}
T=${TESSERA:-./build/tessera}
SEEDS=${SEEDS:-1 2 3}
mkdir -p "$OUT"
if [ ! -f "$OUT/gpt/summary.json" ]; then
  # One document per line: blank lines between them.
  tail -n +2 "$SST/glue/train.tsv" | cut -f1 | awk '{print; print ""}' > "$OUT/unlabeled.txt"
  $T data prepare --train-tokenizer bpe --vocab-size 4096 --input "$OUT/unlabeled.txt" --blank-line-docs \
      --val-fraction 0.02 --out "$OUT/data"
  $T pretrain --config examples/gpt_sst2.json --data "$OUT/data" --out "$OUT/gpt"
fi
for seed in $SEEDS; do
  for init in pretrained scratch; do
    run="$OUT/${init}_seed$seed"
    [ -f "$run/summary.json" ] && continue
    extra=(); [ "$init" = scratch ] && extra=(--from-scratch)
    $T finetune --config examples/finetune/sst2_sentences.json --base "$OUT/gpt" --seed "$seed" --out "$run" \
        --log-every 0 "${extra[@]}"
    $T eval --checkpoint "$run" --data "$SST/sentence-level/stsa.binary.test" --out "$run/test" >/dev/null
  done
done
python3 - "$OUT" $SEEDS <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
res = {}
for init in ("pretrained", "scratch"):
    dev = [json.load(open(f"{out}/{init}_seed{s}/summary.json"))["dev_accuracy"] for s in seeds]
    test = [json.load(open(f"{out}/{init}_seed{s}/test/eval_report.json"))["accuracy"] for s in seeds]
    f1 = [json.load(open(f"{out}/{init}_seed{s}/summary.json"))["dev_macro_f1"] for s in seeds]
    stat = lambda v: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0,
                      "min": min(v), "max": max(v), "runs": v}
    res[init] = {"dev_accuracy": stat(dev), "dev_macro_f1": stat(f1), "test_accuracy": stat(test)}
    print(f"{init:>10}: dev accuracy {res[init]['dev_accuracy']['mean']:.4f} +- {res[init]['dev_accuracy']['std']:.4f} "
          f"(min {min(dev):.4f}, max {max(dev):.4f}); test accuracy {res[init]['test_accuracy']['mean']:.4f} "
          f"+- {res[init]['test_accuracy']['std']:.4f}  [seeds {' '.join(seeds)}]")
json.dump(res, open(f"{out}/claim.json", "w"), indent=2)
print(f"written {out}/claim.json")
PY
