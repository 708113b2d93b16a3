"""Parity cases for rotary_embedding (src/ops/rope.cpp).

The reference is transformers' LLaMA formulation, written out (torch 1.13 has
no rotary op): x * cat(cos, cos) + rotate_half(x) * cat(sin, sin) with
rotate_half(x) = cat(-x2, x1). cos and sin are constant inputs (no gradient),
drawn as the tables of random angles so every pair rotates differently.
"""
import math

import torch

from harness import T, case

CASES = []


def rope_ref(x, cos, sin):
    h = x.shape[-1] // 2
    c = torch.cat([cos, cos], -1)
    s = torch.cat([sin, sin], -1)
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)
    return x * c + rot * s


def tables(t, h, dtype="f32", seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand((t, h), generator=g, dtype=torch.float64) * 2 * math.pi
    return (T((t, h), dtype=dtype, values=a.cos().tolist(), grad=False),
            T((t, h), dtype=dtype, values=a.sin().tolist(), grad=False))


SHAPES = [
    ("2d", T((5, 8)), 5, 4),
    ("bhtd", T((2, 3, 7, 16)), 7, 8),
    ("strided_t", T((2, 6, 4), layout="t"), 6, 2),   # last two dims stored transposed
    ("slice", T((3, 5, 6), layout="slice"), 5, 3),   # every second element
    ("f64", T((2, 4, 10), dtype="f64"), 4, 5),
    ("empty", T((0, 3, 4)), 3, 2),
]
for tag, x, t, h in SHAPES:
    c, s = tables(t, h, dtype=x.dtype)
    CASES.append(case("rotary_embedding", [x, c, s], rope_ref, tag=tag))
