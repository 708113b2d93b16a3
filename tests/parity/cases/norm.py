"""Parity cases for layer_norm and rms_norm (src/ops/norm.cpp).

Inputs are x, then weight and/or bias as the attr "affine" says ("wb", "w", "b" or "").
torch 1.13 has no F.rms_norm: the reference is the composition x * rsqrt(mean(x^2) + eps) * w.
"""
import torch
import torch.nn.functional as F

from harness import T, case

CASES = []


def layer_norm_ref(x, *params, normalized_shape, eps, affine):
    w = params[0] if "w" in affine else None
    b = params[-1] if "b" in affine else None
    return F.layer_norm(x, normalized_shape, w, b, eps)


def rms_norm_ref(x, *params, normalized_shape, eps, affine):
    dims = tuple(range(-len(normalized_shape), 0))
    y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
    return y * params[0] if "w" in affine else y


def in_f64(ref):
    """The reference evaluated in float64 and rounded back: for inputs where
    torch's own float32 kernel loses digits (a large common offset) and ours,
    with double statistics, does not."""
    def fn(x, *params, **attrs):
        return ref(x.double(), *[p.double() for p in params], **attrs).to(x.dtype)
    return fn


F64_REFERENCE = {"offset_mean"}


def params_for(normalized_shape, affine, dtype):
    ps = []
    if "w" in affine:
        ps.append(T(normalized_shape, dtype=dtype))
    if "b" in affine:
        ps.append(T(normalized_shape, dtype=dtype))
    return ps


# (tag, x, normalized_shape)
SHAPES = [
    ("2d", T((4, 8)), [8]),
    ("3d", T((2, 3, 16)), [16]),
    ("two_dims", T((2, 3, 4)), [3, 4]),
    ("all_dims", T((3, 5)), [3, 5]),
    ("x_t", T((3, 6, 5), layout="t"), [5]),
    ("x_slice", T((4, 10), layout="slice"), [10]),
    ("one_row", T((1, 33)), [33]),
    # One normalized element: layer_norm's output is exactly bias and its input
    # gradient 0, which float32 rounding (an FMA residual times 1/sqrt(eps))
    # turns into noise of ~1e-6 against a zero reference; float64 keeps it exact.
    ("one_col", T((5, 1), dtype="f64"), [1]),
    # Small values, so eps dominates rms_norm's one-element mean square.
    ("one_col_small", T((5, 1), dtype="f64", kind="uniform", low=-1e-3, high=1e-3), [1]),
    ("empty_rows", T((0, 6)), [6]),
    ("offset_mean", T((4, 40), kind="uniform", low=100.0, high=101.0), [40]),
    ("wide", T((6, 777)), [777]),
    ("many_rows", T((70, 24)), [24]),
    ("f64", T((3, 7), dtype="f64"), [7]),
]
for tag, t, ns in SHAPES:
    for affine in ("wb", "w", "b", ""):
        inputs = [t] + params_for(tuple(ns), affine, t.dtype)
        attrs = {"normalized_shape": ns, "eps": 1e-5, "affine": affine}
        wrap = in_f64 if tag in F64_REFERENCE else (lambda f: f)
        CASES.append(case("layer_norm", inputs, wrap(layer_norm_ref), attrs=attrs, tag=f"{tag}_{affine or 'none'}"))
        if affine in ("wb", "b"):
            continue
        attrs = {"normalized_shape": ns, "eps": 1e-6, "affine": affine}
        CASES.append(case("rms_norm", inputs, wrap(rms_norm_ref), attrs=attrs, tag=f"{tag}_{affine or 'none'}"))

# A large eps changes the result visibly: checks that eps sits inside the sqrt.
CASES.append(case("layer_norm", [T((3, 8), kind="uniform", low=-0.1, high=0.1), T((8,)), T((8,))],
                  layer_norm_ref, attrs={"normalized_shape": [8], "eps": 0.1, "affine": "wb"}, tag="big_eps"))
CASES.append(case("rms_norm", [T((3, 8), kind="uniform", low=-0.1, high=0.1), T((8,))],
                  rms_norm_ref, attrs={"normalized_shape": [8], "eps": 0.1, "affine": "w"}, tag="big_eps"))

# ---- add_layer_norm / add_rms_norm: (x + residual, norm(x + residual)) ----
# Inputs are x, residual, then the params as "affine" says. Both outputs get an
# upstream gradient, so x's and residual's gradients are the residual stream's
# plus the norm's. A residual that only broadcasts runs the unfused fallback.


def add_norm_ref(ref):
    def fn(x, r, *params, **attrs):
        s = x + r
        return s, ref(s, *params, **attrs)
    return fn


# (tag, x, residual, normalized_shape)
ADD_SHAPES = [
    ("3d", T((2, 5, 16)), T((2, 5, 16)), [16]),
    ("gpt_row", T((3, 96)), T((3, 96)), [96]),
    ("two_dims", T((2, 3, 4)), T((2, 3, 4)), [3, 4]),
    ("strided", T((3, 6, 5), layout="t"), T((3, 6, 5), layout="slice"), [5]),
    ("empty_rows", T((0, 6)), T((0, 6)), [6]),
    ("broadcast_fallback", T((2, 4, 8)), T((4, 8)), [8]),
    ("f64", T((3, 7), dtype="f64"), T((3, 7), dtype="f64"), [7]),
]
for tag, x, r, ns in ADD_SHAPES:
    for affine in ("wb", "w", ""):
        inputs = [x, r] + params_for(tuple(ns), affine, x.dtype)
        CASES.append(case("add_layer_norm", inputs, add_norm_ref(layer_norm_ref),
                          attrs={"normalized_shape": ns, "eps": 1e-5, "affine": affine}, tag=f"{tag}_{affine or 'none'}"))
        if affine == "wb":
            continue
        CASES.append(case("add_rms_norm", inputs, add_norm_ref(rms_norm_ref),
                          attrs={"normalized_shape": ns, "eps": 1e-6, "affine": affine}, tag=f"{tag}_{affine or 'none'}"))
