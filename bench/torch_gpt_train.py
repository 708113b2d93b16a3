#!/usr/bin/env python3
"""The PyTorch side of the GPT pretraining comparison: the model, optimizer,
schedule, batches and validation protocol of a `tessera pretrain` recipe
(examples/shakespeare_char.json), in PyTorch, reading the very token shards
`tessera data prepare` wrote, so both runs see identical data.

Mirrors Tessera (include/tessera/lm/pretrain.h, models/gpt.h) where it matters:
  model    GPT-2 block: pre-LayerNorm (eps 1e-5, bias per config), causal
           self-attention through F.scaled_dot_product_attention, MLP 4x with
           GELU (tanh form), learned positions, tied input/output embeddings;
           nanoGPT init: N(0, 0.02), residual projections N(0, 0.02/sqrt(2 L)),
           biases 0, norm weights 1
  optim    AdamW (betas, eps, weight decay from the recipe); decay on every 2-D
           parameter (embeddings included), none on biases and norm weights;
           gradient clipping by global norm
  schedule Tessera's WarmupCosineLR: lr(s) = lr * s / warmup for s < warmup,
           then min_lr + (lr - min_lr) * (1 + cos(pi p)) / 2, p = (s - warmup) /
           (steps - warmup)   (s = 0-based step)
  batches  B windows of T+1 tokens drawn uniformly over all window starts
           within each train shard (a torch generator, not Tessera's Philox
           stream: the same distribution, not the same draws)
  val      Tessera's fixed windows: batch i holds windows (i*B + b) mod W,
           b < B, window k starting at token k*T of the val split (stride T,
           shard by shard); val loss = mean over eval_batches of the batch's
           mean cross-entropy. The same windows Tessera evaluates.
Throughput counts the training steps only (tokens / seconds spent in the step
loop, batch sampling included), as Tessera's summary.json tokens_per_second,
after --warmup untimed steps (with --compile at least the first, compiling one).
--bf16 runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16)
(the one line a PyTorch user adds; weights and optimizer stay float32).
--model-json overrides the recipe's model section (bench/train_speed.py's shapes).

Usage: torch_gpt_train.py --config examples/shakespeare_char.json --data DIR
         [--threads 2] [--steps N] [--warmup N] [--eval-every N] [--seed S] [--compile]
         [--bf16] [--batch-size N] [--model-json JSON] [--out summary.json] [-q]
"""
import argparse
import json
import math
import os
import resource
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MAGIC = b"TSRTOKS\0"
HEADER = 256


def read_shard(path, vocab):
    """A Tessera token shard (include/tessera/text/shards.h) as a numpy array."""
    with open(path, "rb") as f:
        head = f.read(HEADER)
    if len(head) < HEADER or head[:8] != MAGIC:
        raise SystemExit(f"{path}: not a Tessera token shard (magic)")
    version, width = struct.unpack_from("<II", head, 8)
    v, count, _fp = struct.unpack_from("<QQQ", head, 16)
    if version != 1 or width not in (2, 4) or v != vocab:
        raise SystemExit(f"{path}: header version {version}, width {width}, vocab {v} (meta.json: {vocab})")
    if os.path.getsize(path) != HEADER + count * width:
        raise SystemExit(f"{path}: size does not match the token count {count}")
    dtype = np.uint16 if width == 2 else np.uint32
    return np.fromfile(path, dtype=dtype, offset=HEADER).astype(np.int64)


def load_split(data_dir, meta, name):
    split = meta["splits"].get(name, {"shards": []})
    return [read_shard(os.path.join(data_dir, s["file"]), meta["tokenizer"]["vocab_size"]) for s in split["shards"]]


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, bias = c["n_embd"], c["bias"]
        self.n_head = c["n_head"]
        self.ln_1 = nn.LayerNorm(d, eps=1e-5, bias=bias)
        self.c_attn = nn.Linear(d, 3 * d, bias=bias)
        self.attn_proj = nn.Linear(d, d, bias=bias)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5, bias=bias)
        self.c_fc = nn.Linear(d, 4 * d, bias=bias)
        self.mlp_proj = nn.Linear(4 * d, d, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["block_size"], c["n_embd"])
        self.h = nn.ModuleList(Block(c) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=1e-5, bias=c["bias"])
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c["n_layer"]))
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.ones_(p)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.h:
            x = b(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied output embedding


def loss_of(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="torch.autocast('cpu', torch.bfloat16) around forward + loss")
    ap.add_argument("--warmup", type=int, default=0, help="untimed steps before the timed ones")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--model-json", default=None, help="JSON object merged over the recipe's model section")
    ap.add_argument("--out", default=None)
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    recipe = json.load(open(a.config))
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    c = dict(vocab_size=meta["tokenizer"]["vocab_size"], bias=True)
    c.update(recipe["model"])
    if a.model_json:
        c.update(json.loads(a.model_json))
    if c.get("dropout", 0) != 0:
        raise SystemExit("torch_gpt_train.py: only dropout 0 is implemented")
    o, s, t = recipe["optimizer"], recipe["schedule"], recipe["train"]
    steps = a.steps if a.steps is not None else t["steps"]
    B = a.batch_size or t["batch_size"]
    T = t.get("seq_len", 0) or c["block_size"]
    eval_every = a.eval_every if a.eval_every is not None else t.get("eval_every", 0)
    eval_batches = t.get("eval_batches", 20)
    seed = a.seed if a.seed is not None else t.get("seed", 1337)
    warmup, base_lr, min_lr = min(s.get("warmup_steps", 0), steps), o["lr"], s.get("min_lr", 0.0)

    train = [torch.from_numpy(x) for x in load_split(a.data, meta, "train")]
    val = [torch.from_numpy(x) for x in load_split(a.data, meta, "val")]
    starts = torch.tensor([max(len(x) - T, 0) for x in train])  # window starts per shard
    cum = torch.cumsum(starts, 0)
    W = int(cum[-1])
    offs = torch.arange(T + 1)

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)

    def batch():
        k = torch.randint(W, (B,), generator=gen)
        sh = torch.searchsorted(cum, k, right=True)
        w = torch.stack([train[i][k[j] - (cum[i] - starts[i]) + offs] for j, i in enumerate(sh.tolist())])
        return w[:, :-1], w[:, 1:]

    vwin = [(si, k * T) for si, x in enumerate(val) if len(x) > T for k in range((len(x) - 1) // T)]

    def val_loss():
        model.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(eval_batches):
                w = torch.stack([val[si][st:st + T + 1] for si, st in
                                 (vwin[(i * B + b) % len(vwin)] for b in range(B))])
                total += loss_of(fwd, w[:, :-1], w[:, 1:]).item()
        model.train()
        return total / eval_batches

    model = GPT(c)
    fwd = torch.compile(model) if a.compile else model
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": o.get("weight_decay", 0.0)},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=base_lr, betas=tuple(o.get("betas", [0.9, 0.999])), eps=o.get("eps", 1e-8))

    def lr_at(step):
        if step < warmup:
            return base_lr * step / max(1, warmup)
        p = min(1.0, (step - warmup) / max(1, steps - warmup))
        return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))

    n_params = sum(p.numel() for p in model.parameters())
    if not a.quiet:
        print(f"GPT (PyTorch {torch.__version__}, {a.threads} threads{', compiled' if a.compile else ''}): "
              f"{n_params} parameters, {B * T} tokens per step, {sum(len(x) for x in train)} train tokens")
    t_start = time.perf_counter()
    train_seconds, window, last_loss, vl = 0.0, [], float("nan"), None
    compile_seconds = 0.0
    untimed = max(a.warmup, 1 if a.compile else 0)  # the first compiled step compiles
    for step in range(steps):
        ts = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = batch()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = loss_of(fwd, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if t.get("clip_grad_norm", 0) > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t["clip_grad_norm"])
        opt.step()
        lv = loss.item()
        dt = time.perf_counter() - ts
        if step < untimed:
            compile_seconds += dt if a.compile else 0.0  # warm-up (and compiling) steps are not timed
        else:
            train_seconds += dt
        window.append(lv)
        done = step + 1
        if done % t.get("log_every", 10) == 0 or done == steps:
            last_loss = sum(window) / len(window)
            window = []
            if not a.quiet:
                print(f"step {done}/{steps} loss {last_loss:.4f} lr {lr_at(step):.2e} "
                      f"{max(done - untimed, 0) * B * T / max(train_seconds, 1e-9):.0f} tok/s", flush=True)
        if val and eval_batches > 0 and ((eval_every > 0 and done % eval_every == 0) or done == steps):
            vl = val_loss()
            if not a.quiet:
                print(f"step {done}: val loss {vl:.4f}", flush=True)
    wall = time.perf_counter() - t_start
    timed_steps = steps - min(untimed, steps)
    summary = {"framework": "pytorch", "torch_version": torch.__version__, "threads": a.threads,
               "compile": a.compile, "bf16_autocast": a.bf16, "steps": steps, "timed_steps": timed_steps, "batch_size": B, "seq_len": T, "parameters": n_params,
               "train_loss": last_loss, "val_loss": vl, "val_windows": eval_batches * B,
               "tokens_per_second": timed_steps * B * T / train_seconds if train_seconds > 0 else 0.0,
               "train_seconds": train_seconds, "compile_seconds": compile_seconds, "wall_seconds": wall,
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    text = json.dumps(summary, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
