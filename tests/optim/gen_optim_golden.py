#!/usr/bin/python3
"""Golden trajectories from torch.optim for the optimizer / scheduler parity test.

For every optimizer configuration: initial parameters, 20 pre-drawn gradient
sets and the parameters after each of 20 torch.optim steps. For every
schedule: the learning rate of each param group over 1,000 steps (torch's own
schedulers where they exist, LambdaLR with the documented formula otherwise;
ReduceLROnPlateau fed a fixed metric sequence). tests/optim/
test_optim_parity.cpp replays them (env TESSERA_OPTIM_GOLDEN=<this output>).

Run with Debian's torch: /usr/bin/python3 tests/optim/gen_optim_golden.py --out build/optim_golden.json
"""
import argparse
import json
import math
import os
import tempfile

import torch

STEPS = 20
SCHED_STEPS = 1000
SHAPES = [(3, 4), (5,), (2, 3, 2)]
# A few configurations add a parameter big enough for torch's vectorized loop
# body (not only its scalar tail) and for ours.
BIG_SHAPE = (33, 31)
BIG = {"sgd_all", "adam_all", "adamw_betas_eps"}

# (name, torch.optim class, defaults, per-group overrides or None[, dtype[, "missing"]])
# Group overrides give each group its own lr / weight_decay (the C++ side
# builds ParamGroupSpecs from them); params are split [0, 1] / [2, ...].
# "missing": parameter 1 has no gradient every third step (torch skips it).
OPTIMIZERS = [
    ("sgd_plain", "SGD", dict(lr=0.1), None),
    ("sgd_momentum", "SGD", dict(lr=0.05, momentum=0.9), None),
    ("sgd_dampening", "SGD", dict(lr=0.05, momentum=0.9, dampening=0.3), None),
    ("sgd_nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True), None),
    ("sgd_weight_decay", "SGD", dict(lr=0.1, weight_decay=0.05), None),
    ("sgd_all", "SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.02, nesterov=True), None),
    ("sgd_momentum_wd_dampening", "SGD", dict(lr=0.05, momentum=0.7, dampening=0.5, weight_decay=0.03), None),
    ("sgd_groups", "SGD", dict(lr=0.05, momentum=0.9),
     [dict(lr=0.1, weight_decay=0.01), dict(lr=0.01, weight_decay=0.0)]),
    ("adam_default", "Adam", dict(), None),
    ("adam_lr", "Adam", dict(lr=0.05), None),
    ("adam_weight_decay", "Adam", dict(lr=0.02, weight_decay=0.1), None),
    ("adam_amsgrad", "Adam", dict(lr=0.02, amsgrad=True), None),
    ("adam_betas_eps", "Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6), None),
    ("adam_all", "Adam", dict(lr=0.03, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.05, amsgrad=True), None),
    ("adam_groups", "Adam", dict(lr=0.01),
     [dict(lr=0.03, weight_decay=0.1), dict(lr=0.005, weight_decay=0.0)]),
    ("adam_float64", "Adam", dict(lr=0.05, amsgrad=True), None, torch.float64),
    ("adam_missing_grads", "Adam", dict(lr=0.05), None, torch.float32, "missing"),
    ("adamw_default", "AdamW", dict(), None),
    ("adamw_lr_wd", "AdamW", dict(lr=0.03, weight_decay=0.1), None),
    ("adamw_amsgrad", "AdamW", dict(lr=0.02, amsgrad=True), None),
    ("adamw_betas_eps", "AdamW", dict(lr=0.02, betas=(0.7, 0.95), eps=1e-5, weight_decay=0.2), None),
    ("adamw_groups", "AdamW", dict(lr=0.02, weight_decay=0.05),
     [dict(lr=0.02, weight_decay=0.1), dict(lr=0.04, weight_decay=0.0)]),
    ("sgd_missing_grads", "SGD", dict(lr=0.05, momentum=0.9), None, torch.float32, "missing"),
]


def to_cpp_options(defaults):
    out = {}
    for k, v in defaults.items():
        if k == "betas":
            out["beta1"], out["beta2"] = float(v[0]), float(v[1])
        else:
            out[k] = float(v) if not isinstance(v, bool) else v
    return out


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def optimizer_case(spec, seed):
    name, kind, defaults, groups = spec[:4]
    dtype = spec[4] if len(spec) > 4 else torch.float32
    extra = spec[5] if len(spec) > 5 else ""
    g = torch.Generator().manual_seed(seed)
    shapes = SHAPES + [BIG_SHAPE] if name in BIG else SHAPES
    params = [torch.randn(s, generator=g, dtype=dtype).requires_grad_(True) for s in shapes]
    init = [flat(p) for p in params]
    # Gradient scales vary by step so AMSGrad's max and Adam's bias correction both matter.
    grads = []
    for step in range(STEPS):
        scale = 0.1 + 2.0 * float(torch.rand((), generator=g))
        step_grads = []
        for i, p in enumerate(params):
            if extra == "missing" and i == 1 and step % 3 == 1:
                step_grads.append(None)  # param 1 has no gradient this step: torch skips it
            else:
                step_grads.append(torch.randn(p.shape, generator=g, dtype=dtype) * scale)
        grads.append(step_grads)

    cls = getattr(torch.optim, kind)
    if groups is None:
        opt = cls(params, **defaults)
        group_json = [dict(params=list(range(len(params))))]
    else:
        opt = cls([dict(params=params[:2], **groups[0]), dict(params=params[2:], **groups[1])], **defaults)
        group_json = [dict(params=[0, 1], **groups[0]), dict(params=list(range(2, len(params))), **groups[1])]
    trajectory = []
    for step in range(STEPS):
        for p, gr in zip(params, grads[step]):
            p.grad = None if gr is None else gr.clone()
        opt.step()
        trajectory.append([flat(p) for p in params])
    return dict(
        name=name, type=kind, dtype="float64" if dtype == torch.float64 else "float32",
        defaults=to_cpp_options(defaults), groups=group_json,
        shapes=[list(s) for s in shapes], init=init,
        grads=[[None if gr is None else flat(gr) for gr in step] for step in grads],
        trajectory=trajectory)


# ---- schedules ----

BASE_LRS = [0.1, 0.01]


def warmup_cosine(base, warmup, total, min_lr):
    def f(s):
        if s < warmup:
            return s / max(1, warmup)
        p = min(1.0, (s - warmup) / max(1, total - warmup))
        return (min_lr + (base - min_lr) * (0.5 * (1.0 + math.cos(math.pi * p)))) / base
    return f


def warmup_linear(base, warmup, total, min_lr):
    def f(s):
        if s < warmup:
            return s / max(1, warmup)
        p = min(1.0, (s - warmup) / max(1, total - warmup))
        return (min_lr + (base - min_lr) * (1.0 - p)) / base
    return f


def inverse_sqrt(d_model, warmup):
    def f(s):
        n = s + 1
        return d_model ** -0.5 * min(n ** -0.5, n * warmup ** -1.5)
    return f


def plateau_metrics(seed):
    # Improves for a while, then plateaus with noise, improves again, then worsens:
    # exercises patience, threshold, cooldown and min_lr.
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in range(SCHED_STEPS):
        if t < 150:
            base = 1.0 / (1.0 + t / 30.0)
        elif t < 400:
            base = 1.0 / 6.0
        elif t < 600:
            base = 1.0 / 6.0 - (t - 400) * 2e-4
        else:
            base = 0.13 + (t - 600) * 1e-4
        out.append(base + 0.002 * float(torch.randn((), generator=g, dtype=torch.float64)))
    return out


SCHEDULES = [
    ("constant", "ConstantLR", dict(factor=1.0, total_iters=0)),
    ("constant_factor", "ConstantLR", dict(factor=0.5, total_iters=100)),
    ("step", "StepLR", dict(step_size=30, gamma=0.5)),
    ("step_gamma09", "StepLR", dict(step_size=7, gamma=0.9)),
    ("exponential", "ExponentialLR", dict(gamma=0.995)),
    ("warmup_cosine", "WarmupCosineLR", dict(warmup_steps=100, total_steps=800, min_lr=1e-4)),
    ("warmup_cosine_no_warmup", "WarmupCosineLR", dict(warmup_steps=0, total_steps=1000, min_lr=0.0)),
    ("warmup_linear", "WarmupLinearLR", dict(warmup_steps=50, total_steps=900, min_lr=0.0)),
    ("warmup_linear_min", "WarmupLinearLR", dict(warmup_steps=10, total_steps=1000, min_lr=5e-4)),
    ("inverse_sqrt", "InverseSqrtLR", dict(d_model=512, warmup_steps=200)),
    ("plateau_min_rel", "ReduceLROnPlateau",
     dict(mode="min", factor=0.5, patience=5, threshold=1e-3, threshold_mode="rel", cooldown=3, min_lr=1e-4)),
    ("plateau_max_abs", "ReduceLROnPlateau",
     dict(mode="max", factor=0.3, patience=10, threshold=0.01, threshold_mode="abs", cooldown=0,
          min_lrs=[1e-3, 1e-5])),
]


def schedule_case(spec, seed):
    name, kind, cfg = spec
    base = [1.0, 0.5] if kind == "InverseSqrtLR" else BASE_LRS
    opt = torch.optim.SGD([dict(params=[torch.zeros(1, requires_grad=True)], lr=b) for b in base], lr=base[0])
    S = torch.optim.lr_scheduler
    metrics = None
    if kind == "ConstantLR":
        sched = S.ConstantLR(opt, factor=cfg["factor"], total_iters=cfg["total_iters"])
    elif kind == "StepLR":
        sched = S.StepLR(opt, step_size=cfg["step_size"], gamma=cfg["gamma"])
    elif kind == "ExponentialLR":
        sched = S.ExponentialLR(opt, gamma=cfg["gamma"])
    elif kind == "WarmupCosineLR":
        sched = S.LambdaLR(opt, [warmup_cosine(b, cfg["warmup_steps"], cfg["total_steps"], cfg["min_lr"]) for b in base])
    elif kind == "WarmupLinearLR":
        sched = S.LambdaLR(opt, [warmup_linear(b, cfg["warmup_steps"], cfg["total_steps"], cfg["min_lr"]) for b in base])
    elif kind == "InverseSqrtLR":
        sched = S.LambdaLR(opt, inverse_sqrt(cfg["d_model"], cfg["warmup_steps"]))
    elif kind == "ReduceLROnPlateau":
        kw = {k: v for k, v in cfg.items() if k != "min_lrs"}
        if "min_lrs" in cfg:
            kw["min_lr"] = cfg["min_lrs"]
        sched = S.ReduceLROnPlateau(opt, **kw)
        metrics = plateau_metrics(seed)
    lrs = []
    for t in range(SCHED_STEPS):
        if metrics is None:
            lrs.append([grp["lr"] for grp in opt.param_groups])
            opt.step()
            sched.step()
        else:
            sched.step(metrics[t])
            lrs.append([grp["lr"] for grp in opt.param_groups])
    out = dict(name=name, type=kind, config=cfg, base_lrs=base, lrs=lrs)
    if metrics is not None:
        out["metrics"] = metrics
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    golden = dict(
        format="tessera.optim_golden", version=1, torch=torch.__version__,
        optimizers=[optimizer_case(s, 1000 + i) for i, s in enumerate(OPTIMIZERS)],
        schedules=[schedule_case(s, 2000 + i) for i, s in enumerate(SCHEDULES)])
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    # Atomic, so a concurrent test never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".optim_golden.")
    with os.fdopen(fd, "w") as f:
        json.dump(golden, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.out)
    print(f"wrote {len(golden['optimizers'])} optimizer and {len(golden['schedules'])} schedule cases to {args.out}")


if __name__ == "__main__":
    main()
