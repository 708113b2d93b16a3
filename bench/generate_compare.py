#!/usr/bin/env python3
"""Generation speed at batch 1: Tessera against Hugging Face transformers.

A GPT-2-shaped model of 124M parameters (GPT2Config(): 12 layers, 768 wide,
12 heads, context 1024, vocab 50257) with random weights (seeded, transformers'
default init; the values do not change the speed) is saved with
save_pretrained, and both stacks generate greedily from the same 32-token
prompt on the same weights:

  (a) transformers generate(use_cache=True)   (b) generate(use_cache=False)
  (c) tessera generate                         (d) tessera generate --no-kv-cache

in alternating order (a b c d, then again) for a few rounds, at each thread
count (torch.set_num_threads / tessera --threads). Both generate exactly
--new-tokens tokens (min_new_tokens = max_new_tokens, no eos; --ignore-eot).
The no-cache runs make fewer tokens (--nocache-new-tokens) since each step
recomputes the whole sequence.

Figures (median over rounds):
  end-to-end tokens/s = new tokens / (prefill + decode time); transformers:
    the generate() call, Tessera: its own prefill + decode timers (json
    "timing"), so neither side counts process start or weight loading.
  decode tokens/s = tokens after the first / time after the prefill. Tessera
    reports it; for transformers it is (N - 1) / (t(N) - t(1)), with t(1) a
    generate() of one token (prefill + first token) timed in the same round.

Also checks that Tessera's greedy tokens equal transformers' on the same
weights, on the 124M model (whose random weights tend to repeat one token)
and on a small model with a wider init (initializer_range 0.3) whose greedy
output varies, so the check means something.

Run: echo -15 > /proc/$$/autogroup; /work/venv-torch/bin/python bench/generate_compare.py
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TEXT = ("It was a bright cold day in April, and the clocks were striking thirteen. Winston Smith, his chin "
        "nuzzled into his breast in an effort to escape the vile wind, slipped quickly through the glass doors "
        "of Victory Mansions, though not quickly enough to prevent a swirl of gritty dust from entering along "
        "with him.")


def tessera_tok(args, *cmd):
    out = subprocess.run([args.tessera, "tokenizer", *cmd, "--tokenizer", args.tokenizer], check=True,
                         capture_output=True)
    return out.stdout


def make_prompt(args):
    """The first prompt_tokens tokens of TEXT, as text that encodes back to exactly them."""
    ids = [int(x) for x in tessera_tok(args, "encode", "--text", TEXT).split()]
    ids = ids[:args.prompt_tokens]
    text = tessera_tok(args, "decode", "--ids", " ".join(map(str, ids))).decode("utf-8")
    again = [int(x) for x in tessera_tok(args, "encode", "--text", text).split()]
    assert again == ids, f"prompt does not round-trip: {ids} vs {again}"
    return text, ids


def hf_generate(model, ids, n, use_cache):
    x = torch.tensor([ids])
    with torch.no_grad():
        t0 = time.perf_counter()
        out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=n,
                             min_new_tokens=n, use_cache=use_cache, pad_token_id=0, eos_token_id=None)
        dt = time.perf_counter() - t0
    toks = out[0, len(ids):].tolist()
    assert len(toks) == n, (len(toks), n)
    return dt, toks


def tessera_generate(args, folder, prompt, n, threads, use_cache):
    cmd = [args.tessera, "generate", "--checkpoint", folder, "--tokenizer", args.tokenizer, "--prompt", prompt,
           "--temperature", "0", "--max-new-tokens", str(n), "--ignore-eot", "--format", "json", "--threads",
           str(threads)]
    if not use_cache:
        cmd.append("--no-kv-cache")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    j = json.loads(out.stdout.splitlines()[0])
    assert j["usage"]["completion_tokens"] == n, j["usage"]
    return j


def save_model(config, seed, folder):
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(folder)
    return model


def match_report(name, hf, ts):
    same = sum(1 for a, b in zip(hf, ts) if a == b)
    first = next((i for i, (a, b) in enumerate(zip(hf, ts)) if a != b), None)
    status = "all equal" if first is None else f"first difference at token {first}"
    return f"{name}: {same}/{len(hf)} tokens equal ({status}; {len(set(hf))} distinct ids in transformers' output)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", default=os.path.join(ROOT, "build", "tessera"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "..", "shared", "data", "gpt2-tokenizer"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--nocache-new-tokens", type=int, default=32)
    ap.add_argument("--json", help="also write the raw measurements here")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    prompt, ids = make_prompt(args)
    N, M = args.new_tokens, args.nocache_new_tokens
    tmp = tempfile.TemporaryDirectory(prefix="tessera_gen_bench_")
    folder = os.path.join(tmp.name, "gpt2-124m")
    model = save_model(transformers.GPT2Config(), 0, folder)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: GPT2LMHeadModel(GPT2Config()), {n_params / 1e6:.1f}M parameters, random (seed 0), "
          f"prompt {len(ids)} tokens, {N} new tokens with the KV cache, {M} without", flush=True)

    # Greedy agreement on a small model with varied output (cheap; 1 thread).
    torch.set_num_threads(1)
    small_dir = os.path.join(tmp.name, "gpt2-small")
    small = save_model(transformers.GPT2Config(n_layer=4, n_embd=256, n_head=4, initializer_range=0.3), 1, small_dir)
    _, hf_small = hf_generate(small, ids, N, True)
    ts_small = tessera_generate(args, small_dir, prompt, N, 1, True)["tokens"]
    matches = [match_report(f"small model (4 layers, 256 wide, init 0.3), {N} tokens", hf_small, ts_small)]

    rows, raw = [], []
    for th in threads:
        torch.set_num_threads(th)
        hf_generate(model, ids, 4, True)  # warm-up (first-call allocations, kernel selection)
        m = {k: [] for k in ("hf_c", "hf_c1", "hf_n", "hf_n1", "ts_c", "ts_cd", "ts_n", "ts_nd")}
        for r in range(args.rounds):
            dt, hf_toks = hf_generate(model, ids, N, True)
            m["hf_c"].append(dt)
            m["hf_c1"].append(hf_generate(model, ids, 1, True)[0])
            dt, hf_n_toks = hf_generate(model, ids, M, False)
            m["hf_n"].append(dt)
            m["hf_n1"].append(hf_generate(model, ids, 1, False)[0])
            j = tessera_generate(args, folder, prompt, N, th, True)
            t = j["timing"]
            m["ts_c"].append(t["prefill_seconds"] + t["decode_seconds"])
            m["ts_cd"].append(t["decode_tokens_per_second"])
            if r == 0 and th == threads[0]:
                matches.append(match_report(f"124M model, {N} tokens, KV cache", hf_toks, j["tokens"]))
            j = tessera_generate(args, folder, prompt, M, th, False)
            t = j["timing"]
            m["ts_n"].append(t["prefill_seconds"] + t["decode_seconds"])
            m["ts_nd"].append(t["decode_tokens_per_second"])
            if r == 0 and th == threads[0]:
                matches.append(match_report(f"124M model, {M} tokens, no cache (both sides)", hf_n_toks, j["tokens"]))
            print(f"threads {th} round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in m.items()), flush=True)
        med = {k: statistics.median(v) for k, v in m.items()}
        raw.append({"threads": th, **m})
        hf_cd = (N - 1) / max(med["hf_c"] - med["hf_c1"], 1e-9)
        hf_nd = (M - 1) / max(med["hf_n"] - med["hf_n1"], 1e-9)
        rows.append((th, "KV cache", N, N / med["hf_c"], N / med["ts_c"], hf_cd, med["ts_cd"]))
        rows.append((th, "no cache", M, M / med["hf_n"], M / med["ts_n"], hf_nd, med["ts_nd"]))

    print()
    print(f"| threads | mode | new tokens | transformers tok/s | Tessera tok/s | Tessera/transformers "
          f"| transformers decode tok/s | Tessera decode tok/s | Tessera/transformers (decode) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for th, mode, n, hf, ts, hfd, tsd in rows:
        print(f"| {th} | {mode} | {n} | {hf:.1f} | {ts:.1f} | {ts / hf:.2f} | {hfd:.1f} | {tsd:.1f} | {tsd / hfd:.2f} |")
    print()
    for th in threads:
        c = next(r for r in rows if r[0] == th and r[1] == "KV cache")
        n = next(r for r in rows if r[0] == th and r[1] == "no cache")
        print(f"KV-cache speed-up at {th} thread(s), decode tok/s: transformers {c[5] / n[5]:.1f}x, "
              f"Tessera {c[6] / n[6]:.1f}x (no-cache runs stop at {len(ids) + M} positions)")
    print()
    print("greedy agreement (same weights, temperature 0):")
    for line in matches:
        print("  " + line)
    print(f"\ntorch {torch.__version__}, transformers {transformers.__version__}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "raw": raw, "matches": matches}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
