"""Parity cases for the activations and (log-)softmax (src/ops/activation.cpp, softmax.cpp)."""
import torch
import torch.nn.functional as F

from harness import T, case

CASES = []

# Elementwise activations: several shapes and layouts, a 0-d and an empty tensor,
# and a wide range of values for the exp/tanh saturation paths.
UNARY = {
    "relu": lambda x: torch.relu(x),
    "sigmoid": lambda x: torch.sigmoid(x),
    "tanh": lambda x: torch.tanh(x),
    "silu": lambda x: F.silu(x),
}
SHAPES = [
    ("2d", T((5, 7))),
    ("3d_t", T((2, 6, 5), layout="t")),
    ("slice", T((4, 9), layout="slice")),
    ("scalar", T(())),
    ("empty", T((0, 3))),
    ("wide_range", T((4, 64), kind="uniform", low=-12.0, high=12.0)),
    ("f64", T((3, 5), dtype="f64")),
    ("large", T((64, 257))),
]
for name, fn in UNARY.items():
    for tag, t in SHAPES:
        CASES.append(case(name, [t], fn, tag=tag))

for approx in ("none", "tanh"):
    for tag, t in SHAPES:
        CASES.append(case("gelu", [t], lambda x, approximate: F.gelu(x, approximate=approximate),
                          attrs={"approximate": approx}, tag=f"{approx}_{tag}"))

# Saturation and special values: +-inf, NaN, and arguments where exp over/underflows.
SPECIAL = [[-float("inf"), -200.0, -90.0, -20.0, -1e-4, 0.0, 1e-4, 20.0, 90.0, 200.0, float("inf"), float("nan")]]
for name, fn in UNARY.items():
    CASES.append(case(name, [T((1, 12), values=SPECIAL)], fn, tag="special", gradcheck=False))
for approx in ("none", "tanh"):
    CASES.append(case("gelu", [T((1, 12), values=SPECIAL)], lambda x, approximate: F.gelu(x, approximate=approximate),
                      attrs={"approximate": approx}, tag=f"{approx}_special", gradcheck=False))

# (Log-)softmax over every dim position, on contiguous and strided inputs.
SOFTMAX_CASES = [
    ("last", T((4, 7)), -1),
    ("first", T((4, 7)), 0),
    ("middle", T((3, 5, 6)), 1),
    ("middle_t", T((3, 5, 6), layout="t"), 1),
    ("last_t", T((3, 5, 6), layout="t"), 2),
    ("first_slice", T((5, 4, 3), layout="slice"), 0),
    ("size1_dim", T((3, 1, 4)), 1),
    ("size1_rows", T((1, 9)), -1),
    ("empty_rows", T((0, 5)), 1),
    ("empty_dim", T((4, 0)), 1),
    ("scalar", T(()), 0),
    ("large_values", T((6, 33), kind="uniform", low=-60.0, high=60.0), -1),
    ("large_values_col", T((33, 300), kind="uniform", low=-60.0, high=60.0), 0),
    ("wide_inner", T((2, 3, 520)), 1),
    ("long_rows", T((8, 1000)), -1),
    ("f64", T((4, 6), dtype="f64"), 1),
]
for tag, t, dim in SOFTMAX_CASES:
    CASES.append(case("softmax", [t], lambda x, dim: torch.softmax(x, dim), attrs={"dim": dim}, tag=tag))
    CASES.append(case("log_softmax", [t], lambda x, dim: torch.log_softmax(x, dim), attrs={"dim": dim}, tag=tag))

# Masked rows: -inf entries get probability 0; a fully masked row is NaN, as torch.
INF = float("inf")
MASKED = [[0.5, -INF, 1.5, -INF], [-INF, -INF, -INF, -INF], [2.0, 1.0, -INF, 0.0]]
for op, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
    CASES.append(case(op, [T((3, 4), values=MASKED)], lambda x, dim, fn=fn: fn(x, dim), attrs={"dim": 1},
                      tag="masked", gradcheck=False))
    CASES.append(case(op, [T((3, 4), values=MASKED[:1] + MASKED[2:] + MASKED[:1])], lambda x, dim, fn=fn: fn(x, dim),
                      attrs={"dim": 0}, tag="masked_partial_col"))
# NaN propagates to its whole row.
NANS = [[0.5, float("nan"), 1.5], [1.0, 2.0, 3.0]]
CASES.append(case("softmax", [T((2, 3), values=NANS)], lambda x, dim: torch.softmax(x, dim), attrs={"dim": 1},
                  tag="nan", gradcheck=False))
