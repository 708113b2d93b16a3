"""Parity cases for the reductions: sum (src/ops/sum.cpp), mean, max, argmax, var (src/ops/reduce.cpp).

"sum", "mean", "var" take attrs dims/keepdim; "*_all" reduce every element to a 0-d tensor.
"""
import torch

from harness import T, case

CASES = []

def exact(fn):
    """fn evaluated in float64, rounded to the input's dtype. Our sums accumulate
    in double; torch's float32 sums can be off by ~1e-5 relative when the result
    is small against the terms (a mean of randn values), which is torch's
    rounding, not a difference to test."""
    def ref(x, **attrs):
        return fn(x.double(), **attrs).to(x.dtype)
    return ref


def var_ref(x, dims, keepdim, correction):
    # torch 1.13's var backward takes an empty dim list as one element (dof =
    # 1 - correction) although the forward reduces everything: pass None.
    return torch.var(x, dims or None, correction=correction, keepdim=keepdim)


# (tag, input, dims): last dim, first dim, a middle dim, adjacent dims,
# scattered dims (the permute path), all dims, negative dims, strided inputs,
# size-1 and zero-size dims, a long row (blocked partial sums).
DIMS_CASES = [
    ("last", T((4, 7)), [1]),
    ("first", T((4, 7)), [0]),
    ("neg", T((4, 7)), [-1]),
    ("middle", T((3, 5, 6)), [1]),
    ("adjacent", T((3, 4, 5, 2)), [1, 2]),
    ("scattered", T((3, 4, 5, 2)), [0, 2]),
    ("scattered_neg", T((3, 4, 5)), [-1, 0]),
    ("all_listed", T((3, 4, 5)), [0, 1, 2]),
    ("all_empty_list", T((3, 4)), []),
    ("t_layout", T((3, 5, 6), layout="t"), [2]),
    ("t_layout_first", T((5, 6), layout="t"), [0]),
    ("slice", T((4, 6), layout="slice"), [1]),
    ("size1_kept", T((3, 1, 4)), [0, 2]),
    ("size1_reduced", T((3, 1, 4)), [1]),
    ("empty_kept", T((0, 4)), [1]),
    ("wide_inner", T((2, 7, 600)), [1]),
    ("long_row", T((2, 40000)), [1]),
    ("f64", T((4, 5), dtype="f64"), [0]),
]
for tag, t, dims in DIMS_CASES:
    for keepdim in (False, True):
        kt = f"{tag}_keep" if keepdim else tag
        attrs = {"dims": dims, "keepdim": keepdim}
        CASES.append(case("sum", [t], exact(lambda x, dims, keepdim: torch.sum(x, dims, keepdim)), attrs=attrs,
                          tag=kt))
        CASES.append(case("mean", [t], exact(lambda x, dims, keepdim: torch.mean(x, dims, keepdim)), attrs=attrs,
                          tag=kt))
        for correction in (0, 1, 2):
            CASES.append(case("var", [t], var_ref,
                              attrs={**attrs, "correction": correction}, tag=f"{kt}_c{correction}"))

# A reduced zero-size dim: the sum is 0 (mean and var would be NaN).
CASES.append(case("sum", [T((0, 4))], lambda x, dims, keepdim: torch.sum(x, dims, keepdim),
                  attrs={"dims": [0], "keepdim": False}, tag="empty_reduced"))
# var with a large common offset: a one-pass formula would lose digits, and so
# does torch's float32 kernel, so the reference is computed in float64.
CASES.append(case("var", [T((6, 50), kind="uniform", low=1000.0, high=1001.0)],
                  lambda x, dims, keepdim, correction: torch.var(x.double(), dims, correction=correction,
                                                                 keepdim=keepdim).float(),
                  attrs={"dims": [1], "keepdim": False, "correction": 1}, tag="offset_mean"))

for tag, t in [("2d", T((4, 7))), ("3d_t", T((2, 5, 3), layout="t")), ("scalar", T(())),
               ("long", T((3, 20000))), ("f64", T((5,), dtype="f64"))]:
    CASES.append(case("sum_all", [t], exact(lambda x: torch.sum(x)), tag=tag))
    CASES.append(case("mean_all", [t], exact(lambda x: torch.mean(x)), tag=tag))
CASES.append(case("sum_all", [T((0, 3))], lambda x: torch.sum(x), tag="empty"))

# max / argmax along a dim: distinct values, so the maximum (and its gradient) is unique.
MAX_CASES = [
    ("last", T((4, 7), kind="distinct"), 1),
    ("first", T((4, 7), kind="distinct"), 0),
    ("neg", T((3, 4, 5), kind="distinct"), -2),
    ("middle_t", T((3, 5, 6), kind="distinct", layout="t"), 1),
    ("slice", T((4, 6), kind="distinct", layout="slice"), 1),
    ("size1", T((3, 1, 4), kind="distinct"), 1),
    ("empty_kept", T((0, 4), kind="distinct"), 1),
    ("wide_inner", T((2, 5, 600), kind="distinct"), 1),
    ("scalar", T((), kind="distinct"), 0),
    ("f64", T((4, 5), dtype="f64", kind="distinct"), 0),
]
for tag, t, dim in MAX_CASES:
    for keepdim in (False, True):
        kt = f"{tag}_keep" if keepdim else tag
        attrs = {"dim": dim, "keepdim": keepdim}
        CASES.append(case("max", [t], lambda x, dim, keepdim: torch.max(x, dim, keepdim).values, attrs=attrs,
                          tag=kt))
        CASES.append(case("argmax", [t], lambda x, dim, keepdim: torch.argmax(x, dim, keepdim), attrs=attrs,
                          tag=kt, gradcheck=False, grad_outputs=[False]))
# Ties along a dim: the first maximal index gets the value and the whole gradient.
TIES = [[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 2.0], [0.5, -4.0, 0.5, 0.5]]
CASES.append(case("max", [T((3, 4), values=TIES)], lambda x, dim, keepdim: torch.max(x, dim, keepdim).values,
                  attrs={"dim": 1, "keepdim": False}, tag="ties", gradcheck=False))
CASES.append(case("max", [T((3, 4), values=TIES)], lambda x, dim, keepdim: torch.max(x, dim, keepdim).values,
                  attrs={"dim": 0, "keepdim": True}, tag="ties_dim0", gradcheck=False))
CASES.append(case("argmax", [T((3, 4), values=TIES)], lambda x, dim, keepdim: torch.argmax(x, dim, keepdim),
                  attrs={"dim": 1, "keepdim": False}, tag="ties", gradcheck=False, grad_outputs=[False]))
CASES.append(case("argmax", [T((3, 4), values=TIES)], lambda x, dim, keepdim: torch.argmax(x, dim, keepdim),
                  attrs={"dim": 0, "keepdim": False}, tag="ties_dim0", gradcheck=False, grad_outputs=[False]))
CASES.append(case("argmax", [T((3, 5), dtype="i64", kind="randint", low=0, high=4)],
                  lambda x, dim, keepdim: torch.argmax(x, dim, keepdim), attrs={"dim": 1, "keepdim": False},
                  tag="int64", gradcheck=False, grad_outputs=[False]))

# max over all elements: torch 1.13 splits the gradient evenly among ties.
for tag, t in [("2d", T((4, 7), kind="distinct")), ("3d_t", T((2, 5, 3), kind="distinct", layout="t")),
               ("long", T((3, 20000), kind="distinct")), ("scalar", T((), kind="distinct")),
               ("f64", T((6,), dtype="f64", kind="distinct"))]:
    CASES.append(case("max_all", [t], lambda x: torch.max(x), tag=tag))
CASES.append(case("max_all", [T((3, 4), values=TIES)], lambda x: torch.max(x), tag="ties", gradcheck=False))

# Degenerate counts give NaN, as torch: the mean of nothing, a variance with
# no degrees of freedom (r - correction <= 0). No finite gradient to check.
CASES.append(case("mean", [T((0, 4))], exact(lambda x, dims, keepdim: torch.mean(x, dims, keepdim)),
                  attrs={"dims": [0], "keepdim": False}, tag="empty_reduced"))
CASES.append(case("var", [T((0, 4))], var_ref, attrs={"dims": [0], "keepdim": True, "correction": 1},
                  tag="empty_reduced"))
CASES.append(case("var", [T((1, 5))], var_ref, attrs={"dims": [0], "keepdim": False, "correction": 1},
                  tag="no_dof", gradcheck=False))
CASES.append(case("var", [T((2, 5))], var_ref, attrs={"dims": [1], "keepdim": False, "correction": 7},
                  tag="correction_above_n", gradcheck=False))

# NaN wins max/argmax (the first NaN's index) and max over all elements.
NAN = float("nan")
WITH_NAN = [[1.0, NAN, 3.0, NAN], [2.0, 5.0, -1.0, 0.0]]
CASES.append(case("max", [T((2, 4), values=WITH_NAN)], lambda x, dim, keepdim: torch.max(x, dim, keepdim).values,
                  attrs={"dim": 1, "keepdim": False}, tag="nan", gradcheck=False))
CASES.append(case("max", [T((2, 4), values=WITH_NAN)], lambda x, dim, keepdim: torch.max(x, dim, keepdim).values,
                  attrs={"dim": 0, "keepdim": False}, tag="nan_dim0", gradcheck=False))
CASES.append(case("argmax", [T((2, 4), values=WITH_NAN)], lambda x, dim, keepdim: torch.argmax(x, dim, keepdim),
                  attrs={"dim": 1, "keepdim": False}, tag="nan", gradcheck=False, grad_outputs=[False]))
CASES.append(case("max_all", [T((2, 4), values=WITH_NAN)], lambda x: torch.max(x), tag="nan", gradcheck=False))
