"""Module parity: MultiheadAttention, Transformer encoder/decoder layers and stacks, and the whole
encoder-decoder Transformer (dropout 0, so train mode is deterministic too).

Masks are torch MHA's convention: bool True = masked; float masks are added to the scores. The
input list of every case is [sequences..., masks...] in the order the C++ side (ops_nn_transformer.cpp)
reads them from the attrs.
"""
import torch
from harness import T, module_case

nn = torch.nn


def causal_bool(n, s=None):
    s = n if s is None else s
    return T((n, s), dtype="bool", values=[[j > i for j in range(s)] for i in range(n)])


def padding(lengths, s):
    """(N, S) key padding mask: True past each sequence's length (never a fully padded row)."""
    return T((len(lengths), s), dtype="bool", values=[[j >= n for j in range(s)] for n in lengths])


def float_mask(shape):
    # Finite additive masks, so the float64 finite differences see a smooth function.
    return T(shape, kind="uniform", low=-2.0, high=2.0)


def _decorrelate(m):
    """torch's stacks start with identical (deep-copied) layers, attention biases are zero and LayerNorm
    is ones/zeros: perturb every parameter so a wrong layer order, a swapped norm or a dropped bias cannot pass."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return m


# ---- MultiheadAttention ----

def mha_forward(self_attn, kpm, mask, need_weights, average=True):
    def f(m, *xs):
        if self_attn:
            q = k = v = xs[0]
            i = 1
        else:
            q, k, v = xs[0:3]
            i = 3
        kp = xs[i] if kpm else None
        am = xs[i + int(kpm)] if mask else None
        out, w = m(q, k, v, key_padding_mask=kp, need_weights=need_weights, attn_mask=am,
                   average_attn_weights=average)
        return (out, w) if need_weights else out
    return f


def mha(E, H, seqs, tag, batch_first=False, bias=True, kdim=None, vdim=None, kpm=None, mask=None,
        need_weights=True, average=True, is_causal=False, train=False):
    """seqs: one spec (self-attention) or three (query, key, value)."""
    self_attn = len(seqs) == 1
    attrs = {"E": E, "H": H, "batch_first": batch_first, "bias": bias, "kdim": kdim, "vdim": vdim,
             "self": self_attn, "kpm": kpm is not None, "mask": mask is not None,
             "need_weights": need_weights, "average": average, "is_causal": is_causal}
    inputs = list(seqs) + ([kpm] if kpm is not None else []) + ([mask] if mask is not None else [])
    return module_case(
        "nn_mha",
        lambda: _decorrelate(nn.MultiheadAttention(E, H, dropout=0.0, bias=bias, batch_first=batch_first, kdim=kdim,
                                                   vdim=vdim)),
        inputs, attrs=attrs, train=train, tag=tag,
        forward=mha_forward(self_attn, kpm is not None, mask is not None, need_weights, average))


MHA_CASES = [
    mha(8, 2, [T((5, 3, 8))], "self"),
    mha(8, 2, [T((3, 5, 8))], "self-batch_first", batch_first=True, train=True),
    mha(8, 4, [T((4, 3, 8)), T((6, 3, 8)), T((6, 3, 8))], "cross-kpm", kpm=padding([6, 2, 4], 6)),
    mha(8, 2, [T((3, 4, 8)), T((3, 6, 8), layout="t"), T((3, 6, 8))], "cross-kpm-batch_first-t",
        batch_first=True, kpm=padding([1, 6, 3], 6)),
    mha(6, 3, [T((5, 2, 6))], "causal-bool", mask=causal_bool(5)),
    mha(6, 3, [T((2, 5, 6))], "causal-bool-fused", batch_first=True, mask=causal_bool(5), need_weights=False),
    # is_causal on the C++ side against torch 1.13's explicit causal bool mask.
    mha(6, 3, [T((5, 2, 6))], "is_causal-fused", mask=causal_bool(5), is_causal=True, need_weights=False),
    mha(6, 3, [T((5, 2, 6))], "is_causal-weights", mask=causal_bool(5), is_causal=True),
    mha(8, 2, [T((5, 3, 8))], "causal+kpm", mask=causal_bool(5), kpm=padding([5, 3, 1], 5)),
    mha(8, 2, [T((5, 3, 8))], "causal+kpm-fused", mask=causal_bool(5), kpm=padding([5, 3, 1], 5),
        need_weights=False),
    mha(8, 2, [T((4, 2, 8)), T((6, 2, 8)), T((6, 2, 8))], "float-mask-2d", mask=float_mask((4, 6))),
    mha(8, 2, [T((2, 4, 8)), T((2, 6, 8)), T((2, 6, 8))], "float-mask-3d-per-head", batch_first=True,
        mask=float_mask((4, 4, 6)), average=False),
    mha(8, 2, [T((2, 4, 8)), T((2, 6, 8)), T((2, 6, 8))], "float-mask-3d+kpm-fused", batch_first=True,
        mask=float_mask((4, 4, 6)), kpm=padding([6, 2], 6), need_weights=False),
    mha(8, 2, [T((4, 8)), T((6, 5)), T((6, 3))], "kdim-vdim-unbatched", kdim=5, vdim=3,
        kpm=T((6,), dtype="bool", values=[False, True, False, False, True, False])),
    mha(8, 2, [T((3, 2, 8)), T((5, 2, 5)), T((5, 2, 3))], "kdim-vdim-fused", kdim=5, vdim=3, need_weights=False),
    mha(4, 1, [T((3, 2, 4))], "nobias-1head", bias=False),
    mha(4, 2, [T((1, 1, 4))], "len1"),
]


# ---- encoder / decoder layers ----

def layer_attrs(d, h, ff, activation="relu", batch_first=False, norm_first=False, eps=1e-5, **kw):
    a = {"d_model": d, "nhead": h, "ff": ff, "activation": activation, "batch_first": batch_first,
         "norm_first": norm_first, "eps": eps}
    a.update(kw)
    return a


def enc_layer(x, tag, masks=(), **kw):
    a = layer_attrs(**kw)
    a["masks"] = [m for m, _ in masks]

    def fwd(m, src, *ms):
        named = dict(zip(a["masks"], ms))
        return m(src, src_mask=named.get("src_mask"), src_key_padding_mask=named.get("src_kpm"))

    return module_case(
        "nn_transformer_encoder_layer",
        lambda: _decorrelate(nn.TransformerEncoderLayer(a["d_model"], a["nhead"], a["ff"], dropout=0.0,
                                                        activation=a["activation"], layer_norm_eps=a["eps"],
                                                        batch_first=a["batch_first"], norm_first=a["norm_first"])),
        [x] + [spec for _, spec in masks], attrs=a, tag=tag, forward=fwd, train=True)


def dec_layer(tgt, mem, tag, masks=(), **kw):
    a = layer_attrs(**kw)
    a["masks"] = [m for m, _ in masks]

    def fwd(m, t, mem_, *ms):
        named = dict(zip(a["masks"], ms))
        return m(t, mem_, tgt_mask=named.get("tgt_mask"), memory_mask=named.get("memory_mask"),
                 tgt_key_padding_mask=named.get("tgt_kpm"), memory_key_padding_mask=named.get("memory_kpm"))

    return module_case(
        "nn_transformer_decoder_layer",
        lambda: _decorrelate(nn.TransformerDecoderLayer(a["d_model"], a["nhead"], a["ff"], dropout=0.0,
                                                        activation=a["activation"], layer_norm_eps=a["eps"],
                                                        batch_first=a["batch_first"], norm_first=a["norm_first"])),
        [tgt, mem] + [spec for _, spec in masks], attrs=a, tag=tag, forward=fwd, train=True)


LAYER_CASES = [
    enc_layer(T((5, 2, 8)), "post-relu", d=8, h=2, ff=16),
    enc_layer(T((2, 5, 8)), "post-gelu-batch_first", d=8, h=2, ff=16, activation="gelu", batch_first=True),
    enc_layer(T((5, 2, 8)), "norm_first-relu", d=8, h=2, ff=16, norm_first=True),
    enc_layer(T((2, 5, 8)), "norm_first-gelu-batch_first-masks", d=8, h=4, ff=12, activation="gelu",
              batch_first=True, norm_first=True,
              masks=[("src_mask", causal_bool(5)), ("src_kpm", padding([5, 3], 5))]),
    enc_layer(T((4, 3, 6)), "post-kpm-eps", d=6, h=3, ff=10, eps=1e-3,
              masks=[("src_kpm", padding([4, 1, 2], 4))]),
    enc_layer(T((4, 6)), "unbatched-float-mask", d=6, h=2, ff=8, masks=[("src_mask", float_mask((4, 4)))]),
    dec_layer(T((4, 2, 8)), T((6, 2, 8)), "post-relu-tgt_mask-memory_kpm", d=8, h=2, ff=16,
              masks=[("tgt_mask", causal_bool(4)), ("memory_kpm", padding([6, 3], 6))]),
    dec_layer(T((2, 4, 8)), T((2, 6, 8)), "norm_first-gelu-batch_first-all-masks", d=8, h=2, ff=16,
              activation="gelu", batch_first=True, norm_first=True,
              masks=[("tgt_mask", causal_bool(4)), ("memory_mask", float_mask((4, 6))),
                     ("tgt_kpm", padding([4, 2], 4)), ("memory_kpm", padding([5, 6], 6))]),
    dec_layer(T((3, 3, 6)), T((5, 3, 6)), "post-gelu", d=6, h=3, ff=10, activation="gelu"),
]


# ---- stacks and the whole Transformer ----

def stack_forward(kind, mask_names):
    def fwd(m, *xs):
        n_seq = 1 if kind == "encoder" else 2
        named = dict(zip(mask_names, xs[n_seq:]))
        if kind == "encoder":
            return m(xs[0], mask=named.get("src_mask"), src_key_padding_mask=named.get("src_kpm"))
        if kind == "decoder":
            return m(xs[0], xs[1], tgt_mask=named.get("tgt_mask"), memory_mask=named.get("memory_mask"),
                     tgt_key_padding_mask=named.get("tgt_kpm"), memory_key_padding_mask=named.get("memory_kpm"))
        return m(xs[0], xs[1], src_mask=named.get("src_mask"), tgt_mask=named.get("tgt_mask"),
                 memory_mask=named.get("memory_mask"), src_key_padding_mask=named.get("src_kpm"),
                 tgt_key_padding_mask=named.get("tgt_kpm"), memory_key_padding_mask=named.get("memory_kpm"))
    return fwd


def encoder(x, tag, layers, final_norm, masks=(), **kw):
    a = layer_attrs(**kw)
    a.update(layers=layers, final_norm=final_norm, masks=[m for m, _ in masks])

    def make():
        layer = nn.TransformerEncoderLayer(a["d_model"], a["nhead"], a["ff"], dropout=0.0, activation=a["activation"],
                                           layer_norm_eps=a["eps"], batch_first=a["batch_first"],
                                           norm_first=a["norm_first"])
        norm = nn.LayerNorm(a["d_model"], eps=a["eps"]) if final_norm else None
        enc = nn.TransformerEncoder(layer, layers, norm=norm)
        _decorrelate(enc)
        return enc

    return module_case("nn_transformer_encoder", make, [x] + [s for _, s in masks], attrs=a, tag=tag,
                       forward=stack_forward("encoder", a["masks"]))


def decoder(tgt, mem, tag, layers, final_norm, masks=(), **kw):
    a = layer_attrs(**kw)
    a.update(layers=layers, final_norm=final_norm, masks=[m for m, _ in masks])

    def make():
        layer = nn.TransformerDecoderLayer(a["d_model"], a["nhead"], a["ff"], dropout=0.0, activation=a["activation"],
                                           layer_norm_eps=a["eps"], batch_first=a["batch_first"],
                                           norm_first=a["norm_first"])
        norm = nn.LayerNorm(a["d_model"], eps=a["eps"]) if final_norm else None
        dec = nn.TransformerDecoder(layer, layers, norm=norm)
        _decorrelate(dec)
        return dec

    return module_case("nn_transformer_decoder", make, [tgt, mem] + [s for _, s in masks], attrs=a, tag=tag,
                       forward=stack_forward("decoder", a["masks"]))


def transformer(src, tgt, tag, enc_layers, dec_layers, masks=(), load_state=False, gradcheck=True, **kw):
    kw_case = {"gradcheck": gradcheck}
    a = layer_attrs(**kw)
    a.update(enc_layers=enc_layers, dec_layers=dec_layers, masks=[m for m, _ in masks], load_state=load_state)

    def make():
        t = nn.Transformer(a["d_model"], a["nhead"], enc_layers, dec_layers, a["ff"], dropout=0.0,
                           activation=a["activation"], layer_norm_eps=a["eps"], batch_first=a["batch_first"],
                           norm_first=a["norm_first"])
        _decorrelate(t)
        return t

    inputs = [src, tgt] + [s for _, s in masks]
    c = module_case("nn_transformer_load_state" if load_state else "nn_transformer", make, inputs, attrs=a, tag=tag,
                    forward=stack_forward("transformer", a["masks"]), **kw_case)
    if load_state:
        # The C++ model copies the parameters in (load_state_dict), so only src and tgt get gradients there.
        for spec in c.inputs[len(inputs):]:
            spec.grad = False
    return c


def square_subsequent(n):
    return T((n, n), values=[[float("-inf") if j > i else 0.0 for j in range(n)] for i in range(n)], grad=False)


STACK_CASES = [
    encoder(T((5, 2, 8)), "2-layers-norm", 2, True, d=8, h=2, ff=16,
            masks=[("src_mask", causal_bool(5)), ("src_kpm", padding([5, 2], 5))]),
    encoder(T((2, 5, 8)), "3-layers-nonorm-norm_first-gelu-batch_first", 3, False, d=8, h=2, ff=16,
            activation="gelu", batch_first=True, norm_first=True),
    decoder(T((4, 2, 8)), T((6, 2, 8)), "2-layers-norm", 2, True, d=8, h=2, ff=16,
            masks=[("tgt_mask", causal_bool(4)), ("memory_kpm", padding([6, 3], 6))]),
    decoder(T((2, 4, 8)), T((2, 6, 8)), "2-layers-norm_first-batch_first", 2, True, d=8, h=4, ff=16,
            batch_first=True, norm_first=True, masks=[("tgt_kpm", padding([4, 2], 4))]),
    # The acceptance model: d_model 8, nhead 2, 2 + 2 layers, feed-forward 16, torch's state_dict by name.
    transformer(T((6, 2, 8)), T((5, 2, 8)), "2+2-post-relu", 2, 2, d=8, h=2, ff=16,
                masks=[("tgt_mask", square_subsequent(5)), ("src_kpm", padding([6, 4], 6)),
                       ("tgt_kpm", padding([5, 3], 5)), ("memory_kpm", padding([6, 4], 6))]),
    transformer(T((2, 6, 8)), T((2, 5, 8)), "2+2-norm_first-gelu-batch_first", 2, 2, d=8, h=2, ff=16,
                activation="gelu", batch_first=True, norm_first=True,
                masks=[("src_mask", float_mask((6, 6))), ("tgt_mask", causal_bool(5)),
                       ("memory_mask", causal_bool(5, 6))]),
    # Same model, but the C++ side builds its own Transformer and load_state_dict()s torch's state_dict by name:
    # outputs and the gradients of src and tgt are compared (the parameter gradients are the case above's).
    transformer(T((6, 2, 8)), T((5, 2, 8)), "2+2-post-relu", 2, 2, d=8, h=2, ff=16, load_state=True,
                masks=[("tgt_mask", square_subsequent(5)), ("src_kpm", padding([6, 4], 6))],
                # no float64 gradcheck: the loaded parameters are float32 copies, not the case's float64 leaves
                gradcheck=False),
]

CASES = MHA_CASES + LAYER_CASES + STACK_CASES
