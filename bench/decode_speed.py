#!/usr/bin/env python3
"""Decode speed side by side (issue 15): Tessera against transformers,
CTranslate2 and llama.cpp on the same random weights, alternated in one run.

A GPT-2 124M-shaped model (GPT2Config(), random, seed 0; bench/generate_compare.py's
save_model) is saved once as a Hugging Face folder and converted for each peer
(bench/decode_peers.py: CTranslate2 float32 / int8_float32, llama.cpp GGUF F32 /
F16 / BF16 / Q8_0 / Q4_0 as llama.cpp ships it (output.weight in Q6_K) / Q4_0
pure) and for
Tessera (`tessera quantize --dtype bf16|int8|q8_0|q4_0`; a format whose
quantize fails is skipped with a note). Every cell generates --new-tokens greedy
tokens after a --prompt-tokens prompt, for 1, 16 and 64 sequences at once, at 1
and 2 threads; within each (threads, batch) every cell runs once per round in
turn (A B C ... A B C), each in its own process, after a warm-up in it.

Figure: generated tokens / seconds of generation, prefill included, model
loading and process start excluded.
  transformers  generate() on a (B, P) batch, torch.set_num_threads
  CTranslate2   generate_batch (min_length = max_length), intra_threads
  llama.cpp     low-level API, all prompts in one llama_decode, then one
                llama_decode per step with n_seq tokens
  Tessera       batch 1: `tessera generate --format json` (its own prefill +
                decode timers; decode-only tok/s in the JSON); batch B:
                `tessera cost --concurrency B --max-batch B` (the serving
                engine, continuous batching; its figure includes prefill)
The prompt: the first P GPT-2 tokens of a fixed text at batch 1 (the same ids
everywhere); B random ids per sequence (seeded) for the batches, as `tessera
cost` uses.

Roofline (batch 1): bytes of weights read per token / measured read bandwidth
(bench/read_bandwidth: streaming AVX-512 sum over 1 GiB at the same thread
count, best of its repeats, measured before and after the cells, the higher
kept). Bytes per token: every tensor of the file but the position table (and
the input embedding when a separate output matrix exists): safetensors headers
(HF, Tessera), GGUF tensor sizes, CTranslate2's model.bin size (which also
holds its position table: about 3 MB).

Usage: decode_speed.py --tessera BIN [--threads 1,2] [--batches 1,16,64]
         [--rounds N] [--new-tokens 128] [--cells REGEX] [--quick] ...
"""
import argparse
import importlib.metadata
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import decode_peers as peers  # noqa: E402

TESSERA_FORMATS = ["fp32", "bf16", "int8", "q8_0", "q4_0"]


def run_json(cmd, timeout):
    """Runs cmd; returns its last stdout line as JSON, or raises with its stderr's tail."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        tail = " | ".join(p.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"exit {p.returncode}: {tail}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def bandwidth(binary, threads):
    """{threads: best GB/s} from bench/read_bandwidth."""
    out = subprocess.run([binary, "--threads", ",".join(map(str, threads))], capture_output=True, text=True,
                         check=True).stdout
    return {j["threads"]: j["best_gb_per_s"] for j in map(json.loads, out.strip().splitlines())}


class Cells:
    """Every (engine, weights) column: how to run it and the bytes it reads per token."""

    def __init__(self, a, notes):
        self.a, self.notes, self.list = a, notes, []

    def add(self, name, engine, model, weight_bytes, **extra):
        if re.search(self.a.cells, name):
            self.list.append(SimpleNamespace(name=name, engine=engine, model=model, bytes=weight_bytes, extra=extra))

    def prepare(self):
        a, work = self.a, self.a.work
        import transformers
        import generate_compare as gc
        cfg = transformers.GPT2Config(n_layer=a.layers, n_embd=a.embd, n_head=a.heads)
        shape = f"{a.layers}x{a.embd}"
        hf = os.path.join(work, f"hf-{shape}")
        if not os.path.exists(os.path.join(hf, "model.safetensors")):
            gc.save_model(cfg, 0, hf)
        # CTranslate2's converter reads the vocabulary from the folder (GPT-2's files, HF names).
        shutil.copy(os.path.join(a.tokenizer, "encoder.json"), os.path.join(hf, "vocab.json"))
        shutil.copy(os.path.join(a.tokenizer, "vocab.bpe"), os.path.join(hf, "merges.txt"))
        self.hf = hf
        self.add("transformers fp32", "transformers", hf, peers.safetensors_weight_bytes(hf))
        for ct in ("float32", "int8_float32"):
            out = os.path.join(work, f"ct2-{shape}-{ct}")
            if self.step(f"CTranslate2 {ct}", lambda: self.ct2_convert(hf, out, ct)):
                self.add(f"CTranslate2 {ct}", "ctranslate2", out, os.path.getsize(os.path.join(out, "model.bin")),
                         compute_type=ct)
        f32 = os.path.join(work, f"gpt2-{shape}-F32.gguf")
        if self.step("llama.cpp GGUF F32", lambda: os.path.exists(f32) or peers.write_gguf_gpt2(hf, a.tokenizer, f32)):
            self.add_gguf("llama.cpp F32", f32)
            for ftype, pure, label in (("F16", False, "F16"), ("BF16", False, "BF16"), ("Q8_0", False, "Q8_0"),
                                       ("Q4_0", False, "Q4_0"), ("Q4_0", True, "Q4_0 pure")):
                q = os.path.join(work, f"gpt2-{shape}-{label.replace(' ', '-')}.gguf")
                if self.step(f"llama.cpp {label}",
                             lambda: os.path.exists(q) or peers.quantize_gguf(f32, q, ftype, pure, max(a.threads))):
                    self.add_gguf(f"llama.cpp {label}", q)
        for fmt in a.tessera_formats:
            if fmt == "fp32":
                self.add("Tessera fp32", "tessera", hf, peers.safetensors_weight_bytes(hf))
                continue
            out = os.path.join(work, f"tessera-{shape}-{fmt}")
            if self.step(f"Tessera {fmt}", lambda: self.tessera_quantize(hf, out, fmt)):
                self.add(f"Tessera {fmt}", "tessera", out, peers.safetensors_weight_bytes(out) or None)

    def add_gguf(self, name, path):
        nbytes, output_type = peers.gguf_weight_bytes(path)
        self.add(name, "llama.cpp", path, nbytes)
        if output_type:
            self.notes.append(f"{name}: output.weight stored as {output_type}")

    def step(self, what, fn):
        try:
            fn()
            return True
        except Exception as e:  # a peer that cannot be prepared is skipped, not fatal
            self.notes.append(f"{what}: skipped ({str(e).strip().splitlines()[-1] if str(e).strip() else e!r})")
            return False

    @staticmethod
    def ct2_convert(hf, out, ct):
        if os.path.exists(os.path.join(out, "model.bin")):
            return
        import ctranslate2
        ctranslate2.converters.TransformersConverter(hf).convert(out, quantization=ct, force=True)

    def tessera_quantize(self, hf, out, fmt):
        shutil.rmtree(out, ignore_errors=True)  # made by this build, never a stale one (it takes seconds)
        p = subprocess.run([self.a.tessera, "quantize", "--checkpoint", hf, "--out", out, "--dtype", fmt,
                            "--tokenizer", self.a.tokenizer],
                           capture_output=True, text=True)
        if p.returncode != 0:
            shutil.rmtree(out, ignore_errors=True)
            raise RuntimeError(f"tessera quantize --dtype {fmt} failed: {(p.stderr or p.stdout).strip()[-300:]}")


def run_cell(a, cell, threads, prompts, prompt_text):
    """One timed run -> {tokens, seconds, first (tokens of sequence 0), ...}."""
    B, n = len(prompts), a.new_tokens
    if cell.engine != "tessera":
        spec = dict(engine=cell.engine, model=cell.model, threads=threads, prompts=prompts, new_tokens=n, **cell.extra)
        return run_json([sys.executable, os.path.join(HERE, "decode_peers.py"), json.dumps(spec)], a.timeout)
    if B == 1:
        import generate_compare as gc
        j = gc.tessera_generate(a, cell.model, prompt_text, n, threads, True)
        t = j["timing"]
        return {"tokens": n, "seconds": t["prefill_seconds"] + t["decode_seconds"], "first": j["tokens"],
                "decode_tokens_per_second": t["decode_tokens_per_second"]}
    j = run_json([a.tessera, "cost", "--checkpoint", cell.model, "--tokenizer", a.tokenizer, "--hourly-price", "1",
                  "--concurrency", str(B), "--max-batch", str(B), "--prompt-tokens", str(len(prompts[0])),
                  "--new-tokens", str(n), "--threads", str(threads), "--format", "json"], a.timeout)
    return {"tokens": B * n, "seconds": B * n / j["tokens_per_second"], "first": None}


def table(a, cells, medians, bw):
    lines = []
    for th in a.threads:
        lines += [f"### {th} thread{'s' if th > 1 else ''} (read bandwidth {bw.get(th, 0):.1f} GB/s)", "",
                  "| engine, weights | MB read per token | roofline tok/s (batch 1) | "
                  + " | ".join(f"batch {b} tok/s" + (" | % of roofline" if b == 1 else "") for b in a.batches) + " |",
                  "|---|---|---|" + "---|" * (len(a.batches) + (1 if 1 in a.batches else 0))]
        for c in cells:
            roof = bw.get(th, 0) * 1e9 / c.bytes if c.bytes else None
            row = [c.name, f"{c.bytes / 1e6:.0f}" if c.bytes else "?", f"{roof:.0f}" if roof else "?"]
            for b in a.batches:
                v = medians.get((c.name, th, b))
                row.append(f"{v:.1f}" if v else "-")
                if b == 1:
                    row.append(f"{100 * v / roof:.0f}%" if v and roof else "-")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return lines


def machine(a):
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "missing"
    cpu = re.search(r"^Model name:\s*(.*)$", subprocess.run(["lscpu"], capture_output=True, text=True).stdout, re.M)
    flags = open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return [f"date (UTC) {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}, Tessera {commit or '?'} ({a.tessera})",
            f"CPU: {cpu.group(1) if cpu else '?'}, {os.cpu_count()} logical CPUs, "
            + ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx512f", "avx512_bf16", "avx512_vnni")),
            ", ".join(f"{d} {version(d)}" for d in ("torch", "transformers", "ctranslate2", "llama-cpp-python",
                                                    "gguf")),
            f"load average at start {a.load_start}, at end {os.getloadavg()[0]:.2f}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", default=os.path.join(ROOT, "build", "tessera"))
    ap.add_argument("--read-bandwidth", help="bench/read_bandwidth binary (default: beside --tessera, in bench/)")
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "..", "shared", "data", "gpt2-tokenizer"))
    ap.add_argument("--work", default="/tmp/tessera_decode_speed", help="converted models, reused between runs")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--cells", default=".", help="regex over the cell names (e.g. 'Tessera|llama')")
    ap.add_argument("--tessera-formats", default=",".join(TESSERA_FORMATS))
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 layers x 128, 16 new tokens, batches 1,4")
    ap.add_argument("--out", help="markdown report (default bench/results/raw/decode_speed_<UTC>.md; JSON beside)")
    a = ap.parse_args()
    if a.quick:
        a.layers, a.embd, a.heads, a.new_tokens, a.batches = 2, 128, 2, 16, "1,4"
    a.threads = [int(t) for t in a.threads.split(",")]
    a.batches = [int(b) for b in a.batches.split(",")]
    a.tessera_formats = [f for f in a.tessera_formats.split(",") if f]
    a.read_bandwidth = a.read_bandwidth or os.path.join(os.path.dirname(a.tessera), "bench", "read_bandwidth")
    a.load_start = f"{os.getloadavg()[0]:.2f}"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = a.out or os.path.join(HERE, "results", "raw", f"decode_speed_{stamp}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    os.makedirs(a.work, exist_ok=True)

    notes = []
    import generate_compare as gc
    prompt_text, ids = gc.make_prompt(a)  # uses a.tessera, a.tokenizer, a.prompt_tokens
    cells = Cells(a, notes)
    cells.prepare()
    bw_runs = [bandwidth(a.read_bandwidth, a.threads)]
    print("cells: " + ", ".join(c.name for c in cells.list), flush=True)
    rng = random.Random(1234)
    raw, by_key = [], {}
    for th in a.threads:
        for B in a.batches:
            prompts = [ids] if B == 1 else [[rng.randrange(50257) for _ in range(a.prompt_tokens)] for _ in range(B)]
            for r in range(a.rounds):
                for c in cells.list:
                    try:
                        res = run_cell(a, c, th, prompts, prompt_text)
                    except Exception as e:
                        notes.append(f"{c.name}, {th} threads, batch {B}, round {r + 1}: failed ({e})")
                        continue
                    tps = res["tokens"] / res["seconds"]
                    raw.append({"cell": c.name, "threads": th, "batch": B, "round": r + 1, "tokens_per_second": tps,
                                **res})
                    by_key.setdefault((c.name, th, B), []).append(tps)
                    print(f"threads {th} batch {B} round {r + 1}: {c.name} {tps:.1f} tok/s", flush=True)
    bw_runs.append(bandwidth(a.read_bandwidth, a.threads))
    bw = {th: max(run[th] for run in bw_runs) for th in a.threads}
    medians = {k: statistics.median(v) for k, v in by_key.items()}

    # Greedy agreement at batch 1 with transformers (quantized weights may well differ; fp32 ones should not).
    ref = next((x["first"] for x in raw if x["cell"] == "transformers fp32" and x["batch"] == 1), None)
    agree = []
    for x in raw:
        if ref and x["batch"] == 1 and x["round"] == 1 and x["threads"] == a.threads[0] and x["first"]:
            same = sum(1 for p, q in zip(ref, x["first"]) if p == q)
            agree.append(f"{x['cell']}: {same}/{len(ref)} of transformers' greedy tokens")
    lines = [f"## Decode speed, GPT-2 {a.layers}x{a.embd} shape, prompt {a.prompt_tokens}, "
             f"{a.new_tokens} new greedy tokens ({a.rounds} round{'s' if a.rounds > 1 else ''}, medians)", ""]
    lines += ["- " + m for m in machine(a)] + [""]
    lines += table(a, cells.list, medians, bw)
    lines += ["Figures: generated tokens / generation seconds, prefill included. Tessera: batch 1 `tessera "
              "generate`, larger batches `tessera cost --concurrency B --max-batch B`.", ""]
    lines += ["Greedy agreement, batch 1:"] + ["- " + x for x in agree or ["(no transformers fp32 run to compare with)"]]
    lines += [""]
    if notes:
        lines += ["Notes:"] + ["- " + n for n in notes] + [""]
    text = "\n".join(lines)
    print("\n" + text)
    with open(out, "w") as f:
        f.write(text)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump({"args": {k: v for k, v in vars(a).items()}, "bandwidth_runs": bw_runs, "raw": raw,
                   "cells": [vars(c) for c in cells.list], "notes": notes}, f, indent=1)
    print(f"wrote {out} and {os.path.splitext(out)[0]}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
