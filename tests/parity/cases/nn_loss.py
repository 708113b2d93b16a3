"""Module parity: the loss modules (CrossEntropyLoss, NLLLoss, MSELoss, L1Loss,
BCEWithLogitsLoss) with their options, the L1/L2 penalties and gradient
clipping (clip_grad_norm_, clip_grad_value_).

The loss modules have no parameters: class weights and pos_weight are inputs
that do not require grad (torch's modules hold them as buffers, without
gradient). The penalties have no torch module; the reference is the formula
composed in Python: l1 = lambda * sum|w|, l2 = lambda / 2 * sum w^2.
Clipping cases feed stand-in gradients as inputs: both sides put them in .grad
of fresh parameters, clip, and return the clipped gradients and the total norm
(no autograd involved, so no gradient comparison or gradcheck).
"""
import torch
from harness import T, case

nn = torch.nn
CASES = []
REDUCTIONS = ("mean", "sum", "none")
SOFT = dict(kind="uniform", low=0.0, high=1.0)


def ce_mod(x, t, *w, ignore_index, label_smoothing, reduction):
    m = nn.CrossEntropyLoss(weight=w[0] if w else None, ignore_index=ignore_index, reduction=reduction,
                            label_smoothing=label_smoothing)
    return m(x, t)


def nll_mod(x, t, *w, ignore_index, reduction):
    return nn.NLLLoss(weight=w[0] if w else None, ignore_index=ignore_index, reduction=reduction)(x, t)


CLASS = [
    ("2d", T((6, 5)), T((6,), dtype="i64", high=5), None, -100),
    ("weight", T((6, 5)), T((6,), dtype="i64", high=5), T((5,), kind="positive", grad=False), -100),
    ("ignore", T((8, 4)), T((8,), dtype="i64", high=4), T((4,), kind="positive", grad=False), 1),
    ("kdim_t", T((2, 4, 3), layout="t"), T((2, 3), dtype="i64", high=4), None, 0),
    ("unbatched", T((5,)), T((), dtype="i64", high=5), None, -100),
]
for tag, x, t, w, ii in CLASS:
    ins = [x, t] + ([w] if w is not None else [])
    for red in REDUCTIONS:
        for ls in (0.0, 0.2):
            CASES.append(case("nn_cross_entropy", ins, ce_mod,
                              attrs={"ignore_index": ii, "label_smoothing": ls, "reduction": red},
                              tag=f"{tag}_{red}" + ("_ls" if ls else "")))
        CASES.append(case("nn_nll_loss", ins, nll_mod, attrs={"ignore_index": ii, "reduction": red}, tag=f"{tag}_{red}"))

for tag, ins in [
    ("2d", [T((3, 4)), T((3, 4))]),
    ("t_slice", [T((4, 5), layout="t"), T((4, 5), layout="slice")]),
    ("target_no_grad", [T((2, 3, 2)), T((2, 3, 2), grad=False)]),
]:
    for red in REDUCTIONS:
        CASES.append(case("nn_mse_loss", ins, lambda a, b, reduction: nn.MSELoss(reduction=reduction)(a, b),
                          attrs={"reduction": red}, tag=f"{tag}_{red}"))
        CASES.append(case("nn_l1_loss", ins, lambda a, b, reduction: nn.L1Loss(reduction=reduction)(a, b),
                          attrs={"reduction": red}, tag=f"{tag}_{red}"))


def bce_mod(x, t, *extra_in, extra, reduction):
    it = iter(extra_in)
    w = next(it) if "w" in extra else None
    pw = next(it) if "p" in extra else None
    return nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)(x, t)


for tag, ins, extra in [
    ("plain", [T((4, 5)), T((4, 5), **SOFT)], ""),
    ("weight", [T((3, 4)), T((3, 4), **SOFT), T((4,), kind="positive", grad=False)], "w"),
    ("pos_weight", [T((3, 4)), T((3, 4), **SOFT), T((4,), kind="positive", grad=False)], "p"),
    ("both_t", [T((4, 3), layout="t"), T((4, 3), **SOFT), T((4, 1), kind="positive", grad=False),
                T((3,), kind="positive", grad=False)], "wp"),
]:
    for red in REDUCTIONS:
        CASES.append(case("nn_bce_with_logits", ins, bce_mod, attrs={"extra": extra, "reduction": red},
                          tag=f"{tag}_{red}"))


# ---- penalties ----
def l1_ref(*ps, lam):
    return lam * sum(p.abs().sum() for p in ps)


def l2_ref(*ps, lam):
    return lam / 2 * sum(p.pow(2).sum() for p in ps)


for op, fn in (("l1_penalty", l1_ref), ("l2_penalty", l2_ref)):
    CASES.append(case(op, [T((4, 3)), T((3,))], fn, attrs={"lam": 0.01}, tag="two"))
    CASES.append(case(op, [T((2, 3, 2), layout="t"), T((5,), layout="slice"), T((1, 1))], fn, attrs={"lam": 0.5},
                      tag="views"))
    CASES.append(case(op, [T((6,))], fn, attrs={"lam": 2.0}, tag="one"))


# ---- clipping ----
def clip_norm_ref(*gs, max_norm, norm_type):
    ps = [torch.zeros_like(g, requires_grad=True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = g.detach().clone()
    nt = float("inf") if norm_type == "inf" else float(norm_type)
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=nt)
    return tuple([p.grad for p in ps] + [total])


def clip_value_ref(*gs, clip_value):
    ps = [torch.zeros_like(g, requires_grad=True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = g.detach().clone()
    torch.nn.utils.clip_grad_value_(ps, clip_value)
    return tuple(p.grad for p in ps)


def G(shape, **kw):
    return T(shape, grad=False, **kw)


for nt in (2.0, 1.0, "inf", 3.0):
    for max_norm, tag in ((0.5, "clipped"), (1e4, "unclipped")):
        CASES.append(case("clip_grad_norm", [G((4, 3)), G((5,)), G((2, 2, 2))], clip_norm_ref,
                          attrs={"max_norm": max_norm, "norm_type": nt}, tag=f"p{nt}_{tag}"))
CASES.append(case("clip_grad_norm", [G((3, 4), layout="t"), G((6,), layout="slice")], clip_norm_ref,
                  attrs={"max_norm": 1.0, "norm_type": 2.0}, tag="views"))
CASES.append(case("clip_grad_norm", [G((1000,))], clip_norm_ref, attrs={"max_norm": 3.0, "norm_type": 2.0},
                  tag="big"))
# All-zero gradients: total norm 0, coefficient max_norm / 1e-6 clamped to 1.
CASES.append(case("clip_grad_norm", [G((3,), values=[0.0, 0.0, 0.0])], clip_norm_ref,
                  attrs={"max_norm": 1.0, "norm_type": 2.0}, tag="zeros"))
CASES.append(case("clip_grad_value", [G((4, 3)), G((5,), layout="slice")], clip_value_ref, attrs={"clip_value": 0.5},
                  tag="half"))
CASES.append(case("clip_grad_value", [G((6,))], clip_value_ref, attrs={"clip_value": 10.0}, tag="noop"))
