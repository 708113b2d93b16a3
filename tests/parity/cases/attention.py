"""Parity cases for scaled_dot_product_attention (src/ops/attention.cpp).

torch 1.13 has no F.scaled_dot_product_attention: the reference is the math
form softmax(q k^T * scale + mask) v. Inputs are q, k, v and, optionally, the
mask (bool: True = attend; float: added to the scores). Attention dropout uses
Tessera's Philox mask, rebuilt in numpy (cases/_philox.py) over the
broadcast (..., L, S) weights in row-major order.
"""
import math

import torch

from cases._philox import WORD0, WORDS4, keep_mask
from harness import T, case

CASES = []


def sdpa_ref(q, k, v, *mask, is_causal, scale, dropout_p, seed, offset, mask_layout=WORDS4):
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    sc = scale if scale is not None else 1.0 / math.sqrt(E)
    s = q @ k.transpose(-2, -1) * sc
    if is_causal:
        s = s.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    if mask:
        m = mask[0]
        s = s.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else s + m
    p = torch.softmax(s, -1)
    if dropout_p > 0:
        batch = torch.broadcast_shapes(p.shape[:-2], v.shape[:-2])
        p = p.expand(*batch, L, S)
        p = p * keep_mask(p.shape, dropout_p, seed, offset, p.dtype, mask_layout) / (1.0 - dropout_p)
    return p @ v


def add(tag, ins, is_causal=False, scale=None, dropout_p=0.0, seed=0, offset=0, mask_layout=WORDS4, **kw):
    CASES.append(case("scaled_dot_product_attention", ins, sdpa_ref,
                      attrs={"is_causal": is_causal, "scale": scale, "dropout_p": dropout_p, "seed": seed,
                             "offset": offset, "mask_layout": mask_layout}, tag=tag, **kw))


# A bool mask that always keeps the diagonal, so no query row is fully masked.
def keep_diag_mask(L, S, seed):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(L, S, generator=g) < 0.6
    m |= torch.eye(L, S, dtype=torch.bool)
    return m.tolist()


add("basic", [T((2, 3, 5, 8)), T((2, 3, 6, 8)), T((2, 3, 6, 7))])
add("scale", [T((2, 4, 8)), T((2, 5, 8)), T((2, 5, 8))], scale=0.3)
add("no_batch", [T((5, 4)), T((7, 4)), T((7, 3))])
add("causal_square", [T((2, 2, 6, 4)), T((2, 2, 6, 4)), T((2, 2, 6, 4))], is_causal=True)
add("causal_L_lt_S", [T((3, 4, 5)), T((3, 7, 5)), T((3, 7, 2))], is_causal=True)
add("bool_mask", [T((2, 3, 5, 4)), T((2, 3, 6, 4)), T((2, 3, 6, 4)),
                  T((5, 6), dtype="bool", values=keep_diag_mask(5, 6, 1))])
add("bool_mask_causal", [T((2, 6, 4)), T((2, 6, 4)), T((2, 6, 4)),
                         T((6, 6), dtype="bool", values=keep_diag_mask(6, 6, 2))], is_causal=True)
add("float_mask", [T((2, 3, 4, 5)), T((2, 3, 6, 5)), T((2, 3, 6, 5)), T((4, 6))])
add("float_mask_batched", [T((2, 3, 4, 5)), T((2, 3, 6, 5)), T((2, 3, 6, 5)), T((2, 1, 4, 6), layout="t")])
add("float_mask_no_grad", [T((3, 4, 5)), T((3, 6, 5)), T((3, 6, 5)), T((3, 4, 6), grad=False)], scale=0.5)
# Batch dims broadcast among q, k, v (k and v shared across the leading dim).
add("broadcast_kv", [T((2, 3, 4, 5)), T((3, 6, 5)), T((1, 3, 6, 2))])
add("mask_adds_batch", [T((3, 4, 5)), T((3, 6, 5)), T((3, 6, 5)), T((2, 1, 4, 6))])
add("layouts", [T((2, 5, 4), layout="t"), T((2, 6, 4), layout="slice"), T((2, 6, 3), layout="t")])
add("rank5", [T((2, 1, 2, 3, 4)), T((2, 1, 2, 5, 4)), T((2, 1, 2, 5, 4))], is_causal=True)
add("one_key", [T((2, 3, 4)), T((2, 1, 4)), T((2, 1, 4))])
add("empty_batch", [T((0, 3, 4)), T((0, 5, 4)), T((0, 5, 4))])
add("gemm_sized", [T((1, 2, 64, 32)), T((1, 2, 48, 32)), T((1, 2, 48, 32))], is_causal=True)
add("many_heads", [T((4, 8, 6, 4)), T((4, 8, 6, 4)), T((4, 8, 6, 4))])
add("f64", [T((2, 4, 3), dtype="f64"), T((2, 5, 3), dtype="f64"), T((2, 5, 3), dtype="f64"),
            T((4, 5), dtype="f64")], is_causal=True)
add("dropout", [T((2, 3, 5, 4)), T((2, 3, 6, 4)), T((2, 3, 6, 4))], dropout_p=0.3, seed=42, offset=5)
add("dropout_causal_bcast", [T((2, 3, 6, 4)), T((3, 6, 4)), T((3, 6, 4))], is_causal=True, dropout_p=0.5,
    seed=2**35 + 1, offset=0)
# A query row whose keys are all masked: NaN output and NaN gradients, as torch
# 1.13's softmax over all -inf. Central differences of NaN are meaningless.
add("fully_masked_row", [T((2, 3, 4)), T((2, 3, 4)), T((2, 3, 4)),
                         T((3, 3), dtype="bool", values=[[True, False, True], [False, False, False],
                                                         [True, True, True]])],
    gradcheck=False)
# The tiled path (no user mask): several 64-row tiles, the last one ragged,
# causal tiles skipped, head dims 32, 64 and 80, and dropout across tiles.
add("tiled_causal_ragged", [T((1, 1, 70, 32)), T((1, 1, 70, 32)), T((1, 1, 70, 32))], is_causal=True)
add("tiled_causal_L_gt_S", [T((2, 67, 16)), T((2, 66, 16)), T((2, 66, 8))], is_causal=True)
add("tiled_dim80", [T((2, 66, 80)), T((2, 65, 80)), T((2, 65, 80))])
add("tiled_dim64_causal", [T((2, 65, 64)), T((2, 65, 64)), T((2, 65, 64))], is_causal=True, gradcheck=False)
add("tiled_dropout_causal", [T((2, 1, 70, 16)), T((2, 1, 70, 16)), T((2, 1, 70, 16))], is_causal=True,
    dropout_p=0.3, seed=11, offset=2**32 - 7)
# The mask layout old runs resume with (one Philox counter per weight), row-pass and tiled.
add("dropout_v1", [T((2, 3, 5, 4)), T((2, 3, 6, 4)), T((2, 3, 6, 4))], dropout_p=0.3, seed=42, offset=5,
    mask_layout=WORD0)
add("tiled_dropout_causal_v1", [T((2, 1, 70, 16)), T((2, 1, 70, 16)), T((2, 1, 70, 16))], is_causal=True,
    dropout_p=0.3, seed=11, offset=2**32 - 7, mask_layout=WORD0)
