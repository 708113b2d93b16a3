#!/usr/bin/env python3
"""`tessera finetune` and `tessera eval` end to end, through the CLI (CTest `finetune_cli`).

A GPT base (the serving fixture's tiny Tiny-Shakespeare GPT) and a tiny random
Hugging Face BERT (written here by transformers, with a WordPiece vocab made
from the data) are fine-tuned on 400 SST-2 sentences in each mode, then:
  - the eval report's every metric equals scikit-learn's on the predictions
    file (accuracy; precision/recall/F1/support per class; macro, micro and
    weighted averages; the confusion matrix);
  - a LoRA checkpoint holds only adapters + head, and its merged export
    predicts the same probabilities;
  - frozen mode trains only the head; a frozen run stopped with --stop-after
    and continued with --resume ends with the same classifier, bit for bit;
  - bad input (missing column, unknown dev label, empty text, a checkpoint of
    the wrong kind, a LoRA checkpoint over another base, a vocab that does not
    fit the model) fails with exit status 1 and a message naming the problem.

Usage: test_finetune_cli.py --tessera build/tessera --gpt-fixture build/serve/fixture --work DIR --shared-data ../shared/data
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
from sklearn import metrics as skm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cli_checks import FAILS, check, run  # noqa: E402


def safetensors_names(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return sorted(k for k in header if k != "__metadata__")


def read_predictions(path):
    with open(path, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    labels = [h[2:] for h in head[3:]]
    gold = [r[1] for r in rows]
    pred = [r[2] for r in rows]
    probs = np.array([[float(x) for x in r[3:]] for r in rows])
    return labels, gold, pred, probs


def check_report_vs_sklearn(report_path, pred_path, what):
    rep = json.load(open(report_path))
    labels, gold, pred, probs = read_predictions(pred_path)
    close = lambda a, b: abs(a - b) <= 1e-9
    ok = close(rep["accuracy"], skm.accuracy_score(gold, pred))
    p, r, f, s = skm.precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    by_name = {c["name"]: c for c in rep["classes"]}
    for i, name in enumerate(labels):
        row = by_name.get(name)
        if row is None:
            ok = False
            continue
        ok &= close(row["precision"], p[i]) and close(row["recall"], r[i]) and close(row["f1"], f[i])
        ok &= int(row["support"]) == int(s[i])
    for avg in ("macro", "micro", "weighted"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(gold, pred, labels=labels, average=avg, zero_division=0)
        got = rep[avg]
        ok &= close(got["precision"], ap) and close(got["recall"], ar) and close(got["f1"], af)
    cm = skm.confusion_matrix(gold, pred, labels=labels)
    ok &= rep["confusion_matrix"]["counts"] == cm.tolist()
    ok &= np.allclose(probs.sum(1), 1.0, atol=1e-4)
    check(ok, f"{what}: every metric of eval_report.json equals scikit-learn's ({len(gold)} predictions)")
    if not ok:
        print(json.dumps(rep, indent=1)[:3000])


def write_subset(src, dst, n, skip=0):
    """The first n 'label text' lines of an SST-2 sentence-level file after `skip`, as TSV."""
    with open(src, encoding="utf-8") as f:
        lines = f.read().splitlines()[skip:skip + n]
    with open(dst, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for line in lines:
            label, text = line.split(" ", 1)
            f.write(f"{text}\t{'pos' if label == '1' else 'neg'}\n")


def make_tiny_bert(folder, texts):
    import torch
    from transformers import BertConfig, BertModel
    words = sorted({w for t in texts for w in t.lower().split()})[:3000]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(folder, safe_serialization=True)
    return len(vocab)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--gpt-fixture", required=True, help="serve fixture folder (its model/ is the GPT base)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared-data", required=True)
    a = ap.parse_args()
    cli = a.tessera
    w = a.work
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    sst = os.path.join(a.shared_data, "sst2", "sentence-level", "stsa.binary.train")
    train, dev = os.path.join(w, "train.tsv"), os.path.join(w, "dev.tsv")
    write_subset(sst, train, 400)
    write_subset(sst, dev, 120, skip=400)
    gpt = os.path.join(a.gpt_fixture, "model")
    common = ["--train", train, "--dev", dev, "--text-column", "sentence", "--label-column", "label",
              "--epochs", "1", "--batch-size", "16", "--max-len", "48", "--threads", "2", "--log-every", "0", "-q"]

    # ---- GPT, full fine-tuning; eval report vs scikit-learn ----
    out = os.path.join(w, "gpt_full")
    run(cli, "finetune", "--base", gpt, "--out", out, "--mode", "full", "--pooling", "last", "--lr", "1e-3", *common)
    s = json.load(open(os.path.join(out, "summary.json")))
    check(all(k in s for k in ("dev_accuracy", "dev_macro_f1", "trainable_parameters")), "summary.json has the keys")
    check(s["trainable_parameters"] == s["total_parameters"], "full mode trains every parameter")
    preds = os.path.join(w, "gpt_full_pred.tsv")
    p = run(cli, "eval", "--checkpoint", out, "--data", dev, "--predictions", preds, "--out", os.path.join(w, "gpt_full_eval"))
    check("confusion matrix" in p.stdout and "macro avg" in p.stdout, "eval prints the table and the confusion matrix")
    check_report_vs_sklearn(os.path.join(w, "gpt_full_eval", "eval_report.json"), preds, "GPT full")
    rep = json.load(open(os.path.join(w, "gpt_full_eval", "eval_report.json")))
    check(abs(rep["accuracy"] - s["dev_accuracy"]) < 1e-9, "eval of the saved model reproduces the run's dev accuracy")

    # ---- GPT, LoRA with merge ----
    out = os.path.join(w, "gpt_lora")
    run(cli, "finetune", "--base", gpt, "--out", out, "--mode", "lora", "--lora-rank", "4", "--merge", "--lr", "3e-3",
        "--pooling", "mean", *common)
    names = safetensors_names(os.path.join(out, "model", "classifier.safetensors"))
    check(names and all(n.startswith("head.") or ".lora_A." in n or ".lora_B." in n for n in names),
          f"the LoRA checkpoint holds only adapters and the head ({len(names)} tensors)")
    s = json.load(open(os.path.join(out, "summary.json")))
    check(s["trainable_parameters"] < s["total_parameters"] // 5, "LoRA trains a small fraction of the parameters")
    pa, pb = os.path.join(w, "lora_pred.tsv"), os.path.join(w, "merged_pred.tsv")
    run(cli, "eval", "--checkpoint", os.path.join(out, "model"), "--data", dev, "--predictions", pa, "--out", os.path.join(w, "e1"))
    run(cli, "eval", "--checkpoint", os.path.join(out, "merged"), "--data", dev, "--predictions", pb, "--out", os.path.join(w, "e2"))
    check(np.allclose(read_predictions(pa)[3], read_predictions(pb)[3], atol=1e-4),
          "the merged export predicts what base + adapters predict")
    check_report_vs_sklearn(os.path.join(w, "e1", "eval_report.json"), pa, "GPT LoRA")

    # ---- GPT, frozen backbone ----
    out = os.path.join(w, "gpt_frozen")
    run(cli, "finetune", "--base", gpt, "--out", out, "--mode", "frozen", "--lr", "1e-2", *common)
    s = json.load(open(os.path.join(out, "summary.json")))
    names = safetensors_names(os.path.join(out, "model", "classifier.safetensors"))
    check(names == ["head.bias", "head.weight"], "a frozen checkpoint holds the head only")
    check(s["trainable_parameters"] == 2 * 64 + 2, f"frozen mode trains only the head ({s['trainable_parameters']})")
    check(s["best_epoch"] == 1 and s["best_step"] == s["steps"], "summary.json names the best epoch and its step")

    # ---- --stop-after then --resume: the same classifier, bit for bit ----
    out_r = os.path.join(w, "gpt_frozen_resumed")
    frozen = ["finetune", "--base", gpt, "--out", out_r, "--mode", "frozen", "--lr", "1e-2", *common]
    run(cli, *frozen, "--stop-after", "10", "--checkpoint-every", "5")
    check(os.path.isfile(os.path.join(out_r, "checkpoints", "step-10", "trainer_state.json")),
          "--stop-after 10 leaves checkpoints/step-10")
    run(cli, *frozen, "--resume")
    with open(os.path.join(out, "model", "classifier.safetensors"), "rb") as fa, \
            open(os.path.join(out_r, "model", "classifier.safetensors"), "rb") as fb:
        same = fa.read() == fb.read()
    check(same, "a run stopped at step 10 and resumed ends with the uninterrupted run's classifier, bit for bit")

    # ---- BERT (tiny random Hugging Face folder), LoRA on query/value, mean pooling ----
    bert = os.path.join(w, "tiny_bert")
    texts = [l.split("\t")[0] for l in open(train, encoding="utf-8").read().splitlines()[1:]]
    make_tiny_bert(bert, texts)
    out = os.path.join(w, "bert_lora")
    run(cli, "finetune", "--base", bert, "--out", out, "--mode", "lora", "--lora-targets", "query,value",
        "--pooling", "mean", "--lr", "3e-3", *common)
    names = safetensors_names(os.path.join(out, "model", "classifier.safetensors"))
    check(len([n for n in names if "lora_A" in n]) == 4, "BERT LoRA on query,value of 2 layers: 4 adapter pairs")
    pb = os.path.join(w, "bert_pred.tsv")
    run(cli, "eval", "--checkpoint", out, "--data", dev, "--predictions", pb, "--out", os.path.join(w, "e3"))
    check_report_vs_sklearn(os.path.join(w, "e3", "eval_report.json"), pb, "BERT LoRA")
    out_cls = os.path.join(w, "bert_cls")
    run(cli, "finetune", "--base", bert, "--out", out_cls, "--mode", "full", "--pooling", "cls", "--lr", "1e-3", *common)

    # ---- bad input ----
    def bad(args, words, what):
        p = run(cli, *args, expect_ok=False)
        msg = (p.stderr + p.stdout).lower()
        ok = p.returncode == 1 and all(x.lower() in msg for x in words)
        check(ok, f"bad input: {what} -> exit {p.returncode}, message names {words}")
        if not ok:
            print("   ", (p.stderr + p.stdout).strip()[-500:])

    quick = ["--epochs", "1", "--threads", "1", "-q", "--max-len", "48"]
    bad(["finetune", "--base", gpt, "--out", os.path.join(w, "x1"), "--train", train, "--dev", dev, *quick,
         "--text-column", "review", "--label-column", "label"], ["review", "train.tsv"], "missing text column")
    dev_bad = os.path.join(w, "dev_unknown.tsv")
    with open(dev_bad, "w") as f:
        f.write("sentence\tlabel\na fine film\tpos\nan odd one\tneutral\n")
    bad(["finetune", "--base", gpt, "--out", os.path.join(w, "x2"), "--train", train, "--dev", dev_bad, *quick,
         "--text-column", "sentence"], ["neutral", "dev_unknown.tsv:3"], "a dev label never seen in training")
    empty = os.path.join(w, "train_empty.tsv")
    with open(empty, "w") as f:
        f.write("sentence\tlabel\ngood\tpos\n   \tneg\n")
    bad(["finetune", "--base", gpt, "--out", os.path.join(w, "x3"), "--train", empty, "--dev", dev, *quick,
         "--text-column", "sentence"], ["train_empty.tsv", "3", "empty"], "empty text")
    bad(["finetune", "--base", os.path.join(w, "gpt_full"), "--out", os.path.join(w, "x4"), "--train", train, "--dev", dev,
         *quick, "--text-column", "sentence"], ["already a fine-tuned classifier"], "a classifier as the base")
    bad(["finetune", "--base", gpt, "--out", os.path.join(w, "x5"), "--train", train, "--dev", dev, *quick,
         "--text-column", "sentence", "--pooling", "cls"], ["cls", "bidirectional"], "cls pooling on a GPT")
    bad(["eval", "--checkpoint", os.path.join(w, "bert_lora"), "--data", dev, "--base", gpt], ["another base model"],
        "a LoRA checkpoint over another base model")
    bad(["finetune", "--base", bert, "--tokenizer", os.path.join(a.gpt_fixture, "model"), "--out", os.path.join(w, "x6"),
         "--train", train, "--dev", dev, *quick, "--text-column", "sentence"], ["vocab"], "a tokenizer that is not the model's vocab")
    other_vocab = os.path.join(w, "other_vocab")
    os.makedirs(other_vocab)
    with open(os.path.join(other_vocab, "vocab.txt"), "w") as f:
        f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n")
    bad(["finetune", "--base", bert, "--tokenizer", other_vocab, "--out", os.path.join(w, "x7"), "--train", train,
         "--dev", dev, *quick, "--text-column", "sentence"], ["vocab does not match", "6"], "a vocab of another size")
    bad(["eval", "--checkpoint", os.path.join(w, "gpt_full"), "--data", os.path.join(w, "nope.tsv")], ["nope.tsv"],
        "eval on a missing file")

    print(f"\n{len(FAILS)} failed" if FAILS else "\nall finetune CLI checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
