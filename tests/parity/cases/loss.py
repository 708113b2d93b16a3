"""Parity cases for the losses (src/ops/loss.cpp): cross_entropy, nll_loss,
mse_loss, l1_loss, binary_cross_entropy_with_logits.

cross_entropy / nll_loss inputs are logits, target and, when present, the
class weight (never requiring grad: torch has no gradient for it).
binary_cross_entropy_with_logits inputs are x, target, then weight and/or
pos_weight as the attr "extra" says ("w", "p", "wp" or "").
"""
import warnings

import torch
import torch.nn.functional as F

from harness import T, case

CASES = []

REDUCTIONS = ("mean", "sum", "none")


def ce_ref(x, t, *w, ignore_index, label_smoothing, reduction):
    return F.cross_entropy(x, t, w[0] if w else None, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)


def nll_ref(x, t, *w, ignore_index, reduction):
    return F.nll_loss(x, t, w[0] if w else None, ignore_index=ignore_index, reduction=reduction)


# (tag, logits, target, weight or None, ignore_index)
CLASS_CASES = [
    ("2d", T((6, 5)), T((6,), dtype="i64", high=5), None, -100),
    ("2d_weight", T((6, 5)), T((6,), dtype="i64", high=5), T((5,), kind="positive", grad=False), -100),
    # ignore_index = a real class, so some rows are ignored.
    ("ignore_class", T((8, 4)), T((8,), dtype="i64", high=4), None, 1),
    ("ignore_weight", T((8, 4)), T((8,), dtype="i64", high=4), T((4,), kind="positive", grad=False), 2),
    ("ignore_neg100", T((4, 3)), T((4,), dtype="i64", values=[0, -100, 2, -100]), None, -100),
    ("kdim", T((3, 4, 5)), T((3, 5), dtype="i64", high=4), None, -100),
    ("kdim2_weight_ignore", T((2, 5, 3, 4)), T((2, 3, 4), dtype="i64", high=5),
     T((5,), kind="positive", grad=False), 0),
    ("unbatched", T((7,)), T((), dtype="i64", high=7), None, -100),
    ("logits_t", T((5, 6), layout="t"), T((5,), dtype="i64", high=6), None, -100),
    ("kdim_slice", T((2, 3, 4), layout="slice"), T((2, 4), dtype="i64", high=3), None, -100),
    ("wide_logits", T((4, 1000), kind="uniform", low=-30.0, high=30.0), T((4,), dtype="i64", high=1000), None, -100),
    # A language-model vocabulary: the float32 kernel reads each row in chunks of
    # 2,048 classes (online log-sum-exp), so rows cross chunk boundaries, the
    # last chunk is partial and a later chunk holds a larger max.
    ("vocab_chunks", T((3, 5003), kind="uniform", low=-30.0, high=30.0), T((3,), dtype="i64", high=5003), None, -100),
    ("vocab_chunks_weight", T((2, 4500)), T((2,), dtype="i64", high=4500), T((4500,), kind="positive", grad=False),
     -100),
    # One class: loss and gradient are exactly 0; float32 leaves ~1e-8 rounding
    # noise (torch's and ours differ), float64 keeps the comparison meaningful.
    ("one_class", T((3, 1), dtype="f64"), T((3,), dtype="i64", high=1), None, -100),
    ("f64", T((5, 4), dtype="f64"), T((5,), dtype="i64", high=4), T((4,), dtype="f64", kind="positive", grad=False),
     -100),
]
for tag, x, t, w, ii in CLASS_CASES:
    ins = [x, t] + ([w] if w is not None else [])
    for red in REDUCTIONS:
        for ls in (0.0, 0.15):
            CASES.append(case("cross_entropy", ins, ce_ref,
                              attrs={"ignore_index": ii, "label_smoothing": ls, "reduction": red},
                              tag=f"{tag}_{red}" + ("_ls" if ls else "")))
        CASES.append(case("nll_loss", ins, nll_ref, attrs={"ignore_index": ii, "reduction": red},
                          tag=f"{tag}_{red}"))

# Every target ignored: "mean" is 0/0 = NaN (as torch), gradients 0.
for op, fn, extra in [("cross_entropy", ce_ref, {"label_smoothing": 0.1}), ("nll_loss", nll_ref, {})]:
    CASES.append(case(op, [T((3, 4)), T((3,), dtype="i64", values=[2, 2, 2])], fn,
                      attrs={"ignore_index": 2, "reduction": "mean", **extra}, tag="all_ignored", gradcheck=False))
    CASES.append(case(op, [T((0, 4)), T((0,), dtype="i64")], fn,
                      attrs={"ignore_index": -100, "reduction": "mean", **extra}, tag="empty_mean"))
    CASES.append(case(op, [T((0, 4)), T((0,), dtype="i64")], fn,
                      attrs={"ignore_index": -100, "reduction": "sum", **extra}, tag="empty_sum"))
# Label smoothing 1.0: only the smoothing term.
CASES.append(case("cross_entropy", [T((4, 3)), T((4,), dtype="i64", high=3), T((3,), kind="positive", grad=False)],
                  ce_ref, attrs={"ignore_index": -100, "label_smoothing": 1.0, "reduction": "mean"}, tag="ls1"))

# ---- mse / l1 ----
# The "broadcast" cases broadcast on purpose; torch warns about it.
warnings.filterwarnings("ignore", message="Using a target size")
for tag, ins in [
    ("2d", [T((3, 4)), T((3, 4))]),
    ("t_slice", [T((4, 5), layout="t"), T((4, 5), layout="slice")]),
    ("target_no_grad", [T((6,)), T((6,), grad=False)]),
    ("broadcast", [T((3, 1)), T((3, 4))]),
    ("scalar", [T(()), T(())]),
    ("f64", [T((2, 3), dtype="f64"), T((2, 3), dtype="f64")]),
]:
    for red in REDUCTIONS:
        CASES.append(case("mse_loss", ins, lambda a, b, reduction: F.mse_loss(a, b, reduction=reduction),
                          attrs={"reduction": red}, tag=f"{tag}_{red}"))
        CASES.append(case("l1_loss", ins, lambda a, b, reduction: F.l1_loss(a, b, reduction=reduction),
                          attrs={"reduction": red}, tag=f"{tag}_{red}"))
CASES.append(case("mse_loss", [T((0, 3)), T((0, 3))], lambda a, b, reduction: F.mse_loss(a, b, reduction=reduction),
                  attrs={"reduction": "sum"}, tag="empty_sum"))


# ---- binary_cross_entropy_with_logits ----
def bce_ref(x, t, *extra_in, extra, reduction):
    it = iter(extra_in)
    w = next(it) if "w" in extra else None
    pw = next(it) if "p" in extra else None
    return F.binary_cross_entropy_with_logits(x, t, w, pos_weight=pw, reduction=reduction)


SOFT = dict(kind="uniform", low=0.0, high=1.0)
for tag, ins, extra in [
    ("plain", [T((4, 5)), T((4, 5), **SOFT)], ""),
    ("hard_targets", [T((6,)), T((6,), values=[0.0, 1.0, 1.0, 0.0, 1.0, 0.0], grad=False)], ""),
    ("weight_row", [T((3, 4)), T((3, 4), **SOFT), T((4,), kind="positive", grad=False)], "w"),
    ("weight_full", [T((3, 4)), T((3, 4), **SOFT), T((3, 4), kind="positive", grad=False)], "w"),
    ("pos_weight", [T((3, 4)), T((3, 4), **SOFT), T((4,), kind="positive", grad=False)], "p"),
    ("both_t", [T((4, 3), layout="t"), T((4, 3), layout="slice", **SOFT), T((4, 1), kind="positive", grad=False),
                T((3,), kind="positive", grad=False)], "wp"),
    # Large |x|: the stable form must not overflow exp or lose log(1 + tiny).
    ("large_logits", [T((2, 8), kind="uniform", low=-60.0, high=60.0), T((2, 8), **SOFT)], ""),
    ("f64", [T((3, 3), dtype="f64"), T((3, 3), dtype="f64", **SOFT), T((3,), dtype="f64", kind="positive", grad=False)],
     "p"),
]:
    for red in REDUCTIONS:
        CASES.append(case("binary_cross_entropy_with_logits", ins, bce_ref,
                          attrs={"extra": extra, "reduction": red}, tag=f"{tag}_{red}"))
