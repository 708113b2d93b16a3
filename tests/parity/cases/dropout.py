"""Parity cases for dropout (src/ops/dropout.cpp).

torch's RNG cannot be reproduced in C++, so the reference rebuilds Tessera's
Philox mask in numpy (cases/_philox.py) and computes x * mask / (1 - p), which
is what torch's dropout does with its own mask. The C++ side makes a fresh
Generator at state (seed, offset) for every call, so the float64 gradcheck's
repeated forwards see one mask. Cases run in the default mask layout (four
elements per Philox counter) unless they name "mask_layout"; the "v1_" ones
check the layout old runs resume with (one counter per element, word 0).
"""
import torch
import torch.nn.functional as F

from cases._philox import WORD0, WORDS4, keep_mask
from harness import T, case

CASES = []


def dropout_ref(x, p, training, seed, offset, mask_layout=WORDS4):
    if not training or p == 0.0:
        return F.dropout(x, p, training)  # x itself, as torch (and Tessera) return it
    if p == 1.0:
        return x * 0.0
    return x * keep_mask(x.shape, p, seed, offset, x.dtype, mask_layout) / (1.0 - p)


for tag, x, p, training, seed, offset in [
    ("p03", T((64, 33)), 0.3, True, 123, 0),
    ("p05_offset_t", T((8, 40, 16), layout="t"), 0.5, True, 7, 1000),
    ("p09_slice", T((50, 20), layout="slice"), 0.9, True, 2**40 + 5, 3),
    ("big_seed_offset", T((300,)), 0.2, True, 0xFFFFFFFFFFFF, 2**33 - 100),  # counter crosses 2^32
    ("p0", T((4, 5)), 0.0, True, 1, 0),
    ("eval", T((4, 5)), 0.5, False, 1, 0),
    ("p1", T((4, 5)), 1.0, True, 1, 0),
    ("empty", T((0, 5)), 0.5, True, 1, 0),
    ("scalar", T(()), 0.5, True, 3, 1),
    ("f64", T((10, 10), dtype="f64"), 0.25, True, 99, 17),
]:
    CASES.append(case("dropout", [x], dropout_ref,
                      attrs={"p": p, "training": training, "seed": seed, "offset": offset, "mask_layout": WORDS4},
                      tag=tag))

# The v1 layout, and v2 with offsets that are not multiples of 4 and a 64-bit counter wrap.
for tag, x, p, seed, offset, layout in [
    ("v1_p03", T((64, 33)), 0.3, 123, 0, WORD0),
    ("v1_big_seed_offset", T((300,)), 0.2, 0xFFFFFFFFFFFF, 2**33 - 100, WORD0),
    ("v1_f64", T((10, 10), dtype="f64"), 0.25, 99, 17, WORD0),
    ("words4_odd_numel", T((7, 13)), 0.4, 5, 3, WORDS4),
    ("words4_counter_wrap", T((130,)), 0.5, 11, 2**64 - 20, WORDS4),
]:
    CASES.append(case("dropout", [x], dropout_ref,
                      attrs={"p": p, "training": True, "seed": seed, "offset": offset, "mask_layout": layout},
                      tag=tag))
