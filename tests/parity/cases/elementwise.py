"""Parity cases: elementwise arithmetic and math, with broadcasting, non-contiguous inputs, size-1 dims and empty tensors."""
import torch
from harness import T, case

SHAPE_PAIRS = [
    ((3, 4), (3, 4), "same"),
    ((2, 3, 4), (4,), "broadcast-row"),
    ((3, 1), (1, 5), "broadcast-both"),
    ((2, 1, 4), (3, 1), "broadcast-rank"),
    ((0, 4), (4,), "empty"),
    ((), (3,), "scalar"),
]

CASES = []
for op, fn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div)]:
    for sa, sb, tag in SHAPE_PAIRS:
        b = T(sb, kind="positive") if op == "div" else T(sb)
        CASES.append(case(op, [T(sa), b], fn, tag=tag))
    CASES.append(case(op, [T((4, 5), layout="t"), T((4, 5), layout="slice", kind="positive")], fn, tag="noncontig"))
CASES.append(case("add_alpha", [T((3, 4)), T((4,))], lambda a, b, alpha: torch.add(a, b, alpha=alpha), attrs={"alpha": 2.5}))
CASES.append(case("sub_alpha", [T((3, 4)), T((3, 1))], lambda a, b, alpha: torch.sub(a, b, alpha=alpha), attrs={"alpha": -0.5}))
CASES.append(case("add_scalar", [T((3, 4), layout="t")], lambda a, s: a + s, attrs={"s": 1.5}))
CASES.append(case("mul_scalar", [T((2, 3, 4))], lambda a, s: a * s, attrs={"s": -3.0}))

UNARY = [
    ("neg", torch.neg, "randn"),
    ("exp", torch.exp, "randn"),
    ("log", torch.log, "positive"),
    ("sqrt", torch.sqrt, "positive"),
    ("rsqrt", torch.rsqrt, "positive"),
    ("abs", torch.abs, "randn"),
]
for op, fn, kind in UNARY:
    CASES.append(case(op, [T((3, 4), kind=kind)], fn))
    CASES.append(case(op, [T((2, 5, 3), kind=kind, layout="t")], fn, tag="t"))
    CASES.append(case(op, [T((4, 6), kind=kind, layout="slice")], fn, tag="slice"))
    CASES.append(case(op, [T((0, 3), kind=kind)], fn, tag="empty"))
    CASES.append(case(op, [T((), kind=kind)], fn, tag="0d"))

for e in [2.0, 3.0, 0.5, -1.5]:
    CASES.append(case("pow", [T((3, 4), kind="positive")], lambda a, e: torch.pow(a, e), attrs={"e": e}, tag=f"e={e}"))
CASES.append(case("pow", [T((2, 3), layout="t")], lambda a, e: torch.pow(a, e), attrs={"e": 2.0}, tag="t-negative-base"))
CASES.append(case("pow_tensor", [T((3, 4), kind="positive"), T((4,))], torch.pow, tag="broadcast"))
CASES.append(case("pow_tensor", [T((2, 3), kind="positive", layout="t"), T((2, 3), kind="uniform", low=-2, high=2)], torch.pow, tag="t"))

# Bounds off the "distinct" grid (k/n*2-1) so no input sits on a kink.
for lo, hi in [(-0.47, 0.53), (None, 0.33), (-0.23, None)]:
    CASES.append(case("clamp", [T((4, 5), kind="distinct")], lambda a, lo, hi: torch.clamp(a, lo, hi),
                      attrs={"lo": lo, "hi": hi}, tag=f"{lo},{hi}"))
CASES.append(case("clamp", [T((4, 5), kind="distinct", layout="t")], lambda a, lo, hi: torch.clamp(a, lo, hi),
                  attrs={"lo": -0.31, "hi": 0.63}, tag="t"))

for op, fn in [("maximum", torch.maximum), ("minimum", torch.minimum)]:
    CASES.append(case(op, [T((3, 4)), T((3, 4))], fn))
    CASES.append(case(op, [T((2, 3, 4)), T((3, 1), layout="t")], fn, tag="broadcast"))

for op, fn in [("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt), ("le", torch.le), ("gt", torch.gt), ("ge", torch.ge)]:
    CASES.append(case(op, [T((3, 4), kind="randint", low=0, high=3, dtype="i64"),
                           T((4,), kind="randint", low=0, high=3, dtype="i64")], fn, gradcheck=False))
    CASES.append(case(op, [T((3, 4), grad=False), T((3, 1), grad=False)], fn, tag="float", gradcheck=False))
