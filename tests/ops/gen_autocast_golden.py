#!/usr/bin/python3
"""Golden values from PyTorch's CPU bf16 autocast for tests/ops/test_autocast_parity.cpp.

For linear, matmul (folded and batched) and conv2d: random float32 inputs, the
op run under torch.autocast("cpu", dtype=torch.bfloat16), its output (bf16,
stored as float) and the gradients of sum(output * g) with respect to every
input (float32 leaves; torch's autocast casts their gradients back). g and
the biases are bf16-exact so that both sides see the same values there; the
inputs and weights are not, so the rounding of the GEMM operands is tested.

Run: /work/main/.venv-ref/bin/python tests/ops/gen_autocast_golden.py --out build/ops/autocast_golden.json
"""
import argparse
import json
import os

import torch
import torch.nn.functional as F


def bf16_exact(t):
    return t.bfloat16().float()


def case(name, op, inputs, fn, **attrs):
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fn(*leaves)
    assert y.dtype == torch.bfloat16, (name, y.dtype)
    g = bf16_exact(torch.randn(y.shape))
    y.float().backward(g)
    out = {"name": name, "op": op, "inputs": [], "output": {"shape": list(y.shape), "values": y.float().flatten().tolist()},
           "grad_output": g.flatten().tolist(), "grads": []}
    for t, leaf in zip(inputs, leaves):
        out["inputs"].append({"shape": list(t.shape), "values": t.flatten().tolist()})
        out["grads"].append(leaf.grad.flatten().tolist())
    out.update(attrs)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(14)
    cases = [
        case("linear", "linear", [torch.randn(2, 7, 48), torch.randn(33, 48) * 0.2, bf16_exact(torch.randn(33))],
             lambda x, w, b: F.linear(x, w, b)),
        case("linear_no_bias", "linear", [torch.randn(9, 130), torch.randn(17, 130) * 0.1],
             lambda x, w: F.linear(x, w)),
        case("matmul_folded", "matmul", [torch.randn(3, 9, 40), torch.randn(40, 17)], torch.matmul),
        case("matmul_batched", "matmul", [torch.randn(2, 3, 12, 20), torch.randn(2, 3, 20, 14)], torch.matmul),
        case("conv2d", "conv2d", [torch.randn(2, 3, 10, 10), torch.randn(8, 3, 3, 3) * 0.3, bf16_exact(torch.randn(8))],
             lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1), stride=[1, 1], padding=[1, 1]),
        case("conv2d_strided", "conv2d", [torch.randn(3, 4, 11, 11), torch.randn(6, 4, 3, 3) * 0.3],
             lambda x, w: F.conv2d(x, w, None, stride=2, padding=0), stride=[2, 2], padding=[0, 0]),
    ]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)


if __name__ == "__main__":
    main()
