#!/usr/bin/env python3
"""Evaluate every parity case with PyTorch and write the golden JSON that the
C++ harness (parity_main.cpp) replays.

Usage: gen_golden.py --out FILE [--only FAMILY[,FAMILY...]]
FAMILY is a file name in tests/parity/cases/ without .py.
"""
import argparse
import importlib.util
import json
import math
import os
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import torch
except ImportError:
    sys.exit("gen_golden.py: PyTorch is not importable by " + sys.executable +
             "; run scripts/install_deps.sh (Debian package python3-torch) or pass the right python")

from harness import Case  # noqa: E402


def encode(t):
    t = t.detach()
    if t.dtype == torch.bool:
        data = [int(v) for v in t.flatten().tolist()]
        dtype = "bool"
    elif t.dtype in (torch.int64, torch.int32):
        data = t.flatten().tolist()
        dtype = "i64"
    else:
        dtype = "f64" if t.dtype == torch.float64 else "f32"
        data = []
        for v in t.double().flatten().tolist():
            data.append(v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")))
    return {"dtype": dtype, "shape": list(t.shape), "data": data}


def load_families(only):
    fams = []
    for name in sorted(os.listdir(os.path.join(HERE, "cases"))):
        if not name.endswith(".py") or name.startswith("_"):
            continue
        fam = name[:-3]
        if only and fam not in only:
            continue
        spec = importlib.util.spec_from_file_location("cases_" + fam, os.path.join(HERE, "cases", name))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fams.append((fam, mod.CASES))
    return fams


def run_case(fam, idx, c: Case):
    seed = zlib.crc32(f"{fam}/{c.op}/{idx}/{c.tag}".encode())
    gen = torch.Generator().manual_seed(seed)
    inputs = []
    for spec in c.inputs:
        x = spec.make(gen)
        if spec.grad:
            x.requires_grad_(True)
        inputs.append(x)
    outs = c.fn(*inputs, **c.attrs)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    outs = list(outs)
    flags = c.grad_outputs or [o.is_floating_point() and o.requires_grad for o in outs]
    upstream = [None] * len(outs)
    for i, o in enumerate(outs):
        if flags[i] and o.requires_grad:
            upstream[i] = torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype)
    grads = [None] * len(inputs)
    diff_in = [i for i, x in enumerate(inputs) if x.requires_grad]
    with_grad = [i for i in range(len(outs)) if upstream[i] is not None]
    if diff_in and with_grad:
        gs = torch.autograd.grad([outs[i] for i in with_grad], [inputs[i] for i in diff_in],
                                 [upstream[i] for i in with_grad], allow_unused=True)
        for i, g in zip(diff_in, gs):
            grads[i] = torch.zeros_like(inputs[i]) if g is None else g
    if c.tol > 1e-5 and not c.why:
        raise SystemExit(f"case {fam}/{c.op}#{idx}: tol {c.tol} > 1e-5 needs why=...")
    return {
        "id": f"{c.op}#{idx}" + (f":{c.tag}" if c.tag else ""),
        "family": fam,
        "op": c.op,
        "attrs": c.attrs,
        "tol": c.tol,
        "grad_tol": c.grad_tol,
        "gradcheck": bool(c.gradcheck and diff_in and with_grad),
        "why": c.why,
        "inputs": [dict(encode(x), layout=s.layout, requires_grad=bool(s.grad), dtype=s.dtype)
                   for x, s in zip(inputs, c.inputs)],
        "outputs": [encode(o) for o in outs],
        "upstream": [None if u is None else encode(u) for u in upstream],
        "grads": [None if g is None else encode(g) for g in grads],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    torch.set_num_threads(1)
    cases = []
    for fam, fam_cases in load_families(only):
        for idx, c in enumerate(fam_cases):
            cases.append(run_case(fam, idx, c))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": cases}, f)
    os.replace(tmp, args.out)
    print(f"gen_golden: {len(cases)} cases from torch {torch.__version__} -> {args.out}")


if __name__ == "__main__":
    main()
