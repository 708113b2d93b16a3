#!/usr/bin/env python3
"""Quantized inference quality, through the CLI (CTest `quantized_quality`).

A small character GPT (2 layers, 128 wide, context 256) is pretrained on Tiny
Shakespeare's first 90% with `tessera pretrain`, then written by `tessera
quantize` in bf16, int8, q8_0 and q4_0. Against the float32 checkpoint:
  - greedy tokens: 20 prompts (lines from the held-out 10%), 128 new tokens
    each, generated through the CLI by every format (free-running agreement
    printed); the per-position bar (95% for bf16, int8, q8_0) is checked
    teacher-forced by the C++ test QuantizedAgreement.* on the models left in
    --work (CTest quantized_agreement);
  - perplexity (`tessera eval` on the held-out text): within 0.5% of float32
    for int8 and q8_0, 3% for q4_0 (and 0.5% for bf16);
  - every quantized checkpoint is smaller than float32's weights;
  - refusals: `tessera finetune --base` a quantized checkpoint fails naming
    it, `quantize --dtype f32` gives back a float32 checkpoint that loads,
    a truncated quantized model.safetensors fails with the file named.

Usage: test_quantized_quality.py --tessera build/tessera --work DIR --shared-data ../shared/data
Exit 77 (skipped) when Tiny Shakespeare is not there.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cli_checks import FAILS, check, run  # noqa: E402


RECIPE = {
    "description": "quantized-quality test model (tests/quant/test_quantized_quality.py)",
    "task": "language_model",
    "model": {"block_size": 256, "n_layer": 2, "n_head": 4, "n_embd": 128, "dropout": 0.0, "bias": True},
    "optimizer": {"type": "adamw", "lr": 2e-3, "weight_decay": 0.1, "betas": [0.9, 0.99], "eps": 1e-8},
    "schedule": {"type": "cosine", "warmup_steps": 20, "min_lr": 2e-4},
    "train": {"steps": 1200, "batch_size": 16, "grad_accum": 1, "clip_grad_norm": 1.0, "eval_every": 1200,
              "eval_batches": 4, "log_every": 100, "seed": 1337, "threads": 2, "checkpoint": {"keep_last": 1}},
}


def greedy_tokens(cli, ckpt, prompts_file):
    p = run(cli, "generate", "--checkpoint", ckpt, "--prompt-file", prompts_file, "-n", 128, "-t", 0,
            "--ignore-eot", "--format", "json", "--threads", 2)
    return [json.loads(line)["tokens"] for line in p.stdout.splitlines() if line.startswith("{")]


def perplexity(cli, ckpt, text_file, out):
    run(cli, "eval", "--checkpoint", ckpt, "--data", text_file, "--out", out, "--threads", 2)
    with open(os.path.join(out, "eval_report.json")) as f:
        report = json.load(f)
    return report["perplexity"]


def weight_bytes(ckpt):
    return os.path.getsize(os.path.join(ckpt, "model.safetensors"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared-data", required=True)
    a = ap.parse_args()
    corpus = os.path.join(a.shared_data, "tinyshakespeare", "input.txt")
    if not os.path.exists(corpus):
        print("skipped: no", corpus)
        return 77
    cli = a.tessera
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    with open(corpus, encoding="utf-8") as f:
        text = f.read()
    cut = int(len(text) * 0.9)
    held_out = os.path.join(a.work, "held_out.txt")
    with open(held_out, "w", encoding="utf-8") as f:
        f.write(text[cut:cut + 30000])
    lines = [l for l in text[cut:].splitlines() if len(l) >= 20][:20]
    prompts = os.path.join(a.work, "prompts.txt")
    with open(prompts, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")

    data = os.path.join(a.work, "data")
    run(cli, "data", "prepare", "--train-tokenizer", "char", "--split", "contiguous", "--val-fraction", "0.1",
        "--input", corpus, "--out", data)
    recipe = os.path.join(a.work, "recipe.json")
    with open(recipe, "w") as f:
        json.dump(RECIPE, f)
    run_dir = os.path.join(a.work, "run")
    run(cli, "pretrain", "--config", recipe, "--data", data, "--out", run_dir, "--quiet")

    ref_tokens = greedy_tokens(cli, run_dir, prompts)
    check(len(ref_tokens) == 20 and all(len(t) == 128 for t in ref_tokens), "float32: 20 prompts x 128 greedy tokens")
    ref_ppl = perplexity(cli, run_dir, held_out, os.path.join(a.work, "eval_f32"))
    print(f"float32 perplexity {ref_ppl:.4f}")
    ref_bytes = weight_bytes(os.path.join(run_dir, "checkpoints", os.listdir(os.path.join(run_dir, "checkpoints"))[0]))

    ppl_bound = {"bf16": 0.005, "int8": 0.005, "q8_0": 0.005, "q4_0": 0.03}
    for fmt in ("bf16", "int8", "q8_0", "q4_0"):
        q = os.path.join(a.work, fmt)
        run(cli, "quantize", "--checkpoint", run_dir, "--out", q, "--dtype", fmt)
        toks = greedy_tokens(cli, q, prompts)
        agree = [sum(x == y for x, y in zip(t, r)) / 128 for t, r in zip(toks, ref_tokens)]
        check(len(agree) == 20, f"{fmt}: generates through the CLI")
        print(f"info {fmt}: free-running greedy agreement with float32 (CLI): mean {sum(agree) / max(1, len(agree)):.3f}"
              " (the per-position bar is checked teacher-forced by QuantizedAgreement.*)")
        ppl = perplexity(cli, q, held_out, os.path.join(a.work, "eval_" + fmt))
        rel = abs(ppl - ref_ppl) / ref_ppl
        check(rel <= ppl_bound[fmt], f"{fmt}: perplexity {ppl:.4f} within {ppl_bound[fmt]:.1%} of float32's (off {rel:.3%})")
        check(weight_bytes(q) < ref_bytes, f"{fmt}: model.safetensors {weight_bytes(q)} < float32's {ref_bytes} bytes")

    # Inference only: fine-tuning a quantized base is refused, dequantizing works.
    labeled = os.path.join(a.work, "labeled.tsv")
    with open(labeled, "w") as f:
        f.write("label\ttext\n" + "".join(f"{'ab'[i % 2]}\t{l}\n" for i, l in enumerate(lines)))
    p = run(cli, "finetune", "--base", os.path.join(a.work, "q8_0"), "--train", labeled, "--dev", labeled, "--out",
            os.path.join(a.work, "ft"), expect_ok=False)
    check(p.returncode != 0 and "inference only" in p.stderr and "q8_0" in p.stderr,
          "finetune --base QUANTIZED fails: " + p.stderr.strip()[:200])
    back = os.path.join(a.work, "q8_0_f32")
    run(cli, "quantize", "--checkpoint", os.path.join(a.work, "q8_0"), "--out", back, "--dtype", "f32")
    ppl_back = perplexity(cli, back, held_out, os.path.join(a.work, "eval_back"))
    check(abs(ppl_back - ref_ppl) / ref_ppl <= 0.005, f"dequantized q8_0 perplexity {ppl_back:.4f} near float32's")

    # A truncated quantized file: one line naming it, exit 1.
    bad = os.path.join(a.work, "bad")
    shutil.copytree(os.path.join(a.work, "q4_0"), bad)
    st = os.path.join(bad, "model.safetensors")
    with open(st, "r+b") as f:
        f.truncate(os.path.getsize(st) // 2)
    p = run(cli, "generate", "--checkpoint", bad, "-p", "To be", "-n", 4, expect_ok=False)
    check(p.returncode == 1 and "model.safetensors" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
          "truncated quantized checkpoint: " + p.stderr.strip()[:200])

    print(f"{len(FAILS)} failed" if FAILS else "all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
