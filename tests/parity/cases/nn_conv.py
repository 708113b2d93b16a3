"""Module parity: Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d.

BatchNorm in train mode also returns the updated running_mean / running_var
(and, in the two-step cases, num_batches_tracked) so that the buffer update is
compared too. Its weight and bias are drawn at random (not torch's ones and
zeros) so that their gradients are exercised; eval cases start from
non-trivial running statistics passed to the C++ side in attrs.
Pooling inputs use kind="distinct": no ties at a window's maximum.
"""
import torch
from harness import T, module_case

nn = torch.nn


# ---- Conv2d ----
def conv_case(cin, cout, k, x, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=True, tag="", seed=0):
    k = (k, k) if isinstance(k, int) else tuple(k)
    attrs = {"in": cin, "out": cout, "k": list(k), "stride": list(stride), "padding": list(padding),
             "dilation": list(dilation), "groups": groups, "bias": bias}
    return module_case("nn_conv2d", lambda: nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation,
                                                      groups=groups, bias=bias),
                       [x], attrs=attrs, tag=tag, seed=seed)


CONV = [
    conv_case(3, 4, 3, T((2, 3, 6, 5)), tag="basic"),
    conv_case(3, 4, 3, T((2, 3, 6, 5)), bias=False, tag="nobias", seed=1),
    conv_case(2, 3, (3, 2), T((2, 2, 9, 8)), stride=(2, 3), padding=(1, 1), tag="rect_stride_pad"),
    conv_case(2, 3, 3, T((1, 2, 9, 9)), dilation=(2, 1), padding=(2, 1), tag="dilation"),
    conv_case(4, 6, 3, T((2, 4, 5, 5)), groups=2, padding=(1, 1), tag="groups"),
    conv_case(4, 4, 3, T((2, 4, 5, 5)), groups=4, stride=(2, 2), padding=(1, 1), tag="depthwise"),
    conv_case(3, 5, 1, T((2, 3, 4, 4)), tag="pointwise"),
    conv_case(3, 2, 3, T((3, 6, 5)), padding=(1, 1), tag="unbatched"),
    conv_case(3, 4, 2, T((2, 3, 5, 5), layout="t"), tag="input_t"),
    conv_case(2, 3, 3, T((1, 2, 4, 6), layout="slice"), padding=(1, 1), tag="input_slice"),
    conv_case(3, 4, 3, T((0, 3, 5, 5)), tag="batch0"),
    conv_case(1, 2, 3, T((1, 1, 3, 3)), tag="single_window"),
]


# ---- pooling ----
def maxpool_case(x, k, stride=None, padding=0, dilation=1, ceil_mode=False, tag=""):
    pair = lambda v: list(v) if isinstance(v, (tuple, list)) else [v, v]
    attrs = {"k": pair(k), "stride": pair(stride) if stride is not None else [0, 0], "padding": pair(padding),
             "dilation": pair(dilation), "ceil_mode": ceil_mode}
    return module_case("nn_maxpool2d", lambda: nn.MaxPool2d(k, stride=stride, padding=padding, dilation=dilation,
                                                            ceil_mode=ceil_mode),
                       [x], attrs=attrs, tag=tag)


def avgpool_case(x, k, stride=None, padding=0, ceil_mode=False, count_include_pad=True, tag=""):
    pair = lambda v: list(v) if isinstance(v, (tuple, list)) else [v, v]
    attrs = {"k": pair(k), "stride": pair(stride) if stride is not None else [0, 0], "padding": pair(padding),
             "ceil_mode": ceil_mode, "count_include_pad": count_include_pad}
    return module_case("nn_avgpool2d", lambda: nn.AvgPool2d(k, stride=stride, padding=padding, ceil_mode=ceil_mode,
                                                            count_include_pad=count_include_pad),
                       [x], attrs=attrs, tag=tag)


D = lambda shape, **kw: T(shape, kind="distinct", **kw)
POOL = [
    maxpool_case(D((2, 3, 6, 6)), 2, tag="k2"),
    maxpool_case(D((2, 2, 7, 5)), (3, 2), stride=(2, 1), padding=(1, 1), tag="rect_pad"),
    maxpool_case(D((1, 2, 9, 9)), 3, stride=2, dilation=2, tag="dilation"),
    maxpool_case(D((2, 2, 7, 7)), 2, ceil_mode=True, tag="ceil"),
    maxpool_case(D((3, 5, 5)), 2, stride=1, tag="unbatched"),
    maxpool_case(D((2, 3, 6, 6), layout="t"), 3, stride=3, tag="input_t"),
    avgpool_case(T((2, 3, 6, 6)), 2, tag="k2"),
    avgpool_case(T((2, 2, 7, 5)), (3, 2), stride=(2, 1), padding=(1, 1), tag="pad_count"),
    avgpool_case(T((2, 2, 7, 5)), (3, 2), stride=(2, 1), padding=(1, 1), count_include_pad=False, tag="pad_nocount"),
    avgpool_case(T((2, 2, 7, 7)), 3, stride=2, ceil_mode=True, tag="ceil"),
    avgpool_case(T((3, 5, 5), layout="slice"), 2, stride=1, tag="unbatched_slice"),
]


# ---- BatchNorm ----
def bn_case(dim, c, x, train, eps=1e-5, momentum=0.1, affine=True, track=True, steps=1, running=None, tag="", seed=0):
    cls = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
    gen = torch.Generator().manual_seed(1000 + seed)
    if running is not None:
        rm = (torch.randn(c, generator=gen) * 0.5).tolist()
        rv = (torch.rand(c, generator=gen) * 1.5 + 0.5).tolist()

    def make():
        m = cls(c, eps=eps, momentum=momentum, affine=affine, track_running_stats=track)
        with torch.no_grad():
            if affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if running is not None:
                m.running_mean.copy_(torch.tensor(rm))
                m.running_var.copy_(torch.tensor(rv))
        return m

    def forward(m, x):
        outs = [m(x)]
        for _ in range(steps - 1):
            outs.append(m(x * 0.5 + 1.0))
        if train and track:
            outs += [m.running_mean.clone(), m.running_var.clone()]
            if steps > 1:
                outs.append(m.num_batches_tracked.clone())
        return tuple(outs) if len(outs) > 1 else outs[0]

    attrs = {"c": c, "eps": eps, "momentum": momentum, "affine": affine, "track": track, "steps": steps}
    if running is not None:
        attrs["running_mean"], attrs["running_var"] = rm, rv
    op = "nn_batchnorm1d" if dim == 1 else "nn_batchnorm2d"
    return module_case(op, make, [x], attrs=attrs, train=train, forward=forward, tag=tag, seed=seed)


BN = [
    bn_case(1, 4, T((8, 4)), train=True, tag="2d_train"),
    bn_case(1, 4, T((8, 4)), train=False, running=True, tag="2d_eval"),
    bn_case(1, 3, T((4, 3, 5)), train=True, tag="3d_train"),
    bn_case(1, 3, T((4, 3, 5)), train=False, running=True, tag="3d_eval"),
    bn_case(1, 5, T((6, 5), layout="t"), train=True, momentum=0.3, eps=1e-3, tag="t_momentum"),
    bn_case(1, 3, T((2, 3, 4), layout="slice"), train=True, affine=False, tag="slice_noaffine"),
    bn_case(1, 4, T((6, 4)), train=True, momentum=None, steps=2, tag="cumulative"),
    bn_case(1, 4, T((6, 4)), train=False, track=False, tag="notrack_eval"),
    # Two values per channel (the least torch accepts; running_var gets the n/(n-1) = 2 factor). With a small eps
    # the output is +-1 whatever x is and the input gradient is O(eps/var) rounding noise, so eps is large here.
    bn_case(1, 4, T((2, 4)), train=True, eps=0.5, tag="batch2"),
    bn_case(2, 3, T((2, 3, 4, 5)), train=True, tag="train"),
    bn_case(2, 3, T((2, 3, 4, 5)), train=False, running=True, tag="eval"),
    bn_case(2, 2, T((3, 2, 3, 3), layout="t"), train=True, momentum=None, steps=2, tag="t_cumulative"),
    bn_case(2, 4, T((2, 4, 3, 3)), train=True, momentum=0.5, steps=2, tag="two_steps"),
    bn_case(2, 3, T((2, 3, 4, 4)), train=True, affine=False, track=False, tag="noaffine_notrack"),
    bn_case(2, 3, T((1, 3, 1, 2)), train=True, eps=0.5, tag="two_values"),  # eps: see batch2
    bn_case(2, 2, T((2, 2, 3, 3)), train=False, running=True, affine=False, eps=1e-2, tag="eval_noaffine"),
]

CASES = CONV + POOL + BN
