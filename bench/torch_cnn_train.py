#!/usr/bin/env python3
"""The PyTorch side of the image-classifier training comparisons: the same
model, data pipeline and hyperparameters as a `tessera train` image recipe, in
PyTorch, so accuracy and training throughput can be set beside Tessera's.
Two model types, as src/train builds them from the recipe's "model":
  cnn  examples/fashion_mnist_cnn.json (issue 4), below
  vit  examples/mnist_vit.json: models/vit.h, i.e. Conv2d(1, dim, p, stride p)
       patch embeddings, a class token and learned positions (trunc_normal
       std 0.02 in [-0.04, 0.04]), dropout, nn.TransformerEncoder of `depth`
       pre-norm layers (batch_first, norm_first, `activation`, torch default
       init like Tessera's nn/ layers), LayerNorm, Linear head on the class
       token; data "augment_shift": every training image shifted by (dy, dx)
       uniform in [-s, s] with zero fill (Tessera's RandomShiftDataset: the
       same distribution, not the same draws); clip_grad_norm from the recipe.

Mirrors Tessera's recipe exactly where it matters:
  model    conv(1->32, 3x3, pad 1) relu maxpool2, conv(32->64) relu maxpool2,
           flatten, fc1 3136->128 relu, dropout 0.5, fc2 128->10 (torch default init)
  data     IDX .gz files, x/255 normalized with (mean, std) from the recipe,
           stratified 10% validation split of the training set, shuffled every
           epoch, batch 64, last partial batch kept
  optim    AdamW(lr 1e-3, wd 0.01), linear warmup 200 steps from 0 then cosine
           to 0 over all steps (Tessera's WarmupCosineLR)
  stop     evaluate on validation every epoch; early stopping patience 4 on
           validation accuracy; test with the best weights
Throughput counts training steps only (samples / seconds spent in the step
loop), as Tessera's summary.json samples_per_second does, after --warmup
untimed steps (with --compile at least the first, compiling one). --bf16 runs
forward and loss under torch.autocast("cpu", dtype=torch.bfloat16).

Usage: torch_cnn_train.py --config examples/fashion_mnist_cnn.json --data DIR
         [--threads 2] [--seed 0] [--steps N (throughput only: stop after N steps,
         no evaluation)] [--warmup N] [--bf16] [--out summary.json] [--compile]
"""
import argparse
import gzip
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


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(folder, prefix, kind):
    for name in (f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz",
                 f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"):
        p = os.path.join(folder, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"no {prefix} {kind} IDX file in {folder}")


class CNN(nn.Module):
    def __init__(self, channels, kernel, hidden, dropout, classes=10, size=28):
        super().__init__()
        self.convs = nn.ModuleList()
        c = 1
        for ch in channels:
            self.convs.append(nn.Conv2d(c, ch, kernel, padding=kernel // 2))
            c = ch
            size //= 2
        self.fc1 = nn.Linear(c * size * size, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        for conv in self.convs:
            x = F.max_pool2d(F.relu(conv(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(self.dropout(x))


class ViT(nn.Module):
    def __init__(self, m, classes=10, size=28, channels=1):
        super().__init__()
        p, d = m["patch_size"], m["dim"]
        patches = (size // p) ** 2
        self.patch_embed = nn.Conv2d(channels, d, p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + patches, d))
        nn.init.trunc_normal_(self.cls_token, 0.0, 0.02, -0.04, 0.04)
        nn.init.trunc_normal_(self.pos_embed, 0.0, 0.02, -0.04, 0.04)
        self.pos_drop = nn.Dropout(m.get("dropout", 0.1))
        layer = nn.TransformerEncoderLayer(d, m["heads"], m["mlp_dim"], m.get("dropout", 0.1),
                                           activation=m.get("activation", "gelu"), batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, m["depth"], enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        t = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N, P, D)
        t = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), t], 1) + self.pos_embed
        t = self.encoder(self.pos_drop(t))
        return self.head(self.norm(t[:, 0]))


def random_shift(x, s, gen):
    """Each image of x (N, C, H, W) shifted by (dy, dx) uniform in [-s, s], zeros shifted in."""
    n, _, h, w = x.shape
    pad = F.pad(x, (s, s, s, s))
    d = (2 * s - torch.randint(0, 2 * s + 1, (n, 2), generator=gen)).tolist()  # s - shift
    return torch.stack([pad[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(d)])


def stratified_split(labels, fraction, rng):
    val = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        val.extend(idx[:int(round(len(idx) * fraction))])
    mask = np.zeros(len(labels), bool)
    mask[val] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


@torch.no_grad()
def accuracy(model, x, y, bs=1000):
    model.eval()
    correct = 0
    for i in range(0, len(x), bs):
        correct += (model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item()
    model.train()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="torch.autocast('cpu', torch.bfloat16) around forward + loss")
    ap.add_argument("--warmup", type=int, default=0, help="untimed steps before the timed ones")
    a = ap.parse_args()
    cfg = json.load(open(a.config))
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    d, m, o, s, t = cfg["data"], cfg["model"], cfg["optimizer"], cfg["schedule"], cfg["train"]

    def load(prefix):
        x = read_idx(find(a.data, prefix, "images")).astype(np.float32) / 255.0
        x = (x - d["mean"]) / d["std"]
        return torch.from_numpy(x[:, None]), torch.from_numpy(read_idx(find(a.data, prefix, "labels")).astype(np.int64))

    xtr, ytr = load("train")
    xte, yte = load("t10k")
    tr, va = stratified_split(ytr.numpy(), d.get("validation_fraction", 0.1), rng)
    xva, yva = xtr[va], ytr[va]
    xtr, ytr = xtr[tr], ytr[tr]

    kind = m.get("type", "cnn")
    if kind == "cnn":
        model = CNN(m["channels"], m["kernel_size"], m["hidden"], m["dropout"])
    elif kind == "vit":
        model = ViT(m)
    else:
        raise SystemExit(f"torch_cnn_train.py: model type '{kind}' is not mirrored here (cnn, vit)")
    shift = d.get("augment_shift", 0)
    shift_gen = torch.Generator().manual_seed(a.seed + 1)
    clip = t.get("clip_grad_norm", 0)
    untimed = max(a.warmup, 1 if a.compile else 0)  # the first compiled step compiles
    fwd = torch.compile(model) if a.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"])
    bs, epochs = t["batch_size"], t["epochs"]
    steps_per_epoch = math.ceil(len(xtr) / bs)
    total = a.steps if a.steps else epochs * steps_per_epoch
    warm = s.get("warmup_steps", 0)

    def factor(step):
        if step < warm:
            return step / max(1, warm)
        p = (step - warm) / max(1, total - warm)
        return 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    patience = t.get("early_stopping", {}).get("patience", 0)
    best, best_state, bad, step, train_s, samples = -1.0, None, 0, 0, 0.0, 0
    timed_samples = 0
    stop = "completed"
    t_wall = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.from_numpy(rng.permutation(len(xtr)))
        for i in range(0, len(xtr), bs):
            t0 = time.perf_counter()
            idx = perm[i:i + bs]
            x = xtr[idx]
            if shift:
                x = random_shift(x, shift, shift_gen)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                loss = F.cross_entropy(fwd(x), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            sched.step()
            step += 1
            samples += len(idx)
            if step > untimed:
                train_s += time.perf_counter() - t0
                timed_samples += len(idx)
            if a.steps and step >= a.steps:
                break
        if a.steps and step >= a.steps:
            stop = "steps"
            break
        acc = accuracy(model, xva, yva)
        print(f"epoch {epoch + 1} step {step} loss {loss.item():.4f} validation accuracy {acc:.4f} "
              f"{timed_samples / max(train_s, 1e-9):.0f} samples/s", flush=True)
        if acc > best:
            best, bad = acc, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if patience and bad >= patience:
                stop = "early_stopping"
                break
    summary = {"framework": "pytorch", "torch_version": torch.__version__, "threads": torch.get_num_threads(),
               "model": kind, "compile": a.compile, "bf16_autocast": a.bf16, "steps": step,
               "timed_steps": max(step - untimed, 0), "samples_seen": samples, "train_seconds": train_s,
               "samples_per_second": timed_samples / train_s if train_s > 0 else 0.0,
               "wall_seconds": time.perf_counter() - t_wall, "stop_reason": stop,
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if not a.steps:
        if best_state is not None:
            model.load_state_dict(best_state)
        summary["best_validation_accuracy"] = best
        summary["test_accuracy"] = accuracy(model, xte, yte)
    print(json.dumps(summary, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
