"""Parity cases for conv2d, max_pool2d and avg_pool2d (NCHW and unbatched CHW).
Pooling inputs use kind="distinct" so that no window has a tie at its maximum
(the gradient of a tie is arbitrary) and finite differences never cross one."""
import torch.nn.functional as F

from harness import T, case


def conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


def max_pool2d(x, kernel, stride=(0, 0), padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    return F.max_pool2d(x, kernel, stride=stride if stride != (0, 0) else None, padding=padding,
                        dilation=dilation, ceil_mode=ceil_mode)


def avg_pool2d(x, kernel, stride=(0, 0), padding=(0, 0), ceil_mode=False, count_include_pad=True):
    return F.avg_pool2d(x, kernel, stride=stride if stride != (0, 0) else None, padding=padding,
                        ceil_mode=ceil_mode, count_include_pad=count_include_pad)


def D(shape, **kw):
    return T(shape, kind="distinct", **kw)


CASES = [
    case("conv2d", [T((2, 3, 7, 6)), T((4, 3, 3, 3)), T((4,))], conv2d),
    case("conv2d", [T((2, 3, 7, 6)), T((4, 3, 3, 3))], conv2d, tag="nobias"),
    case("conv2d", [T((2, 3, 9, 8)), T((4, 3, 3, 2)), T((4,))], conv2d,
         attrs={"stride": (2, 3), "padding": (1, 2)}, tag="stride_pad"),
    case("conv2d", [T((1, 2, 9, 9)), T((3, 2, 3, 3)), T((3,))], conv2d,
         attrs={"dilation": (2, 3), "padding": (2, 1)}, tag="dilation"),
    case("conv2d", [T((2, 4, 6, 6)), T((6, 2, 3, 3)), T((6,))], conv2d,
         attrs={"groups": 2, "padding": (1, 1)}, tag="groups2"),
    case("conv2d", [T((2, 4, 5, 5)), T((8, 1, 3, 3)), T((8,))], conv2d,
         attrs={"groups": 4, "stride": (2, 2), "padding": (1, 1)}, tag="depthwise"),
    case("conv2d", [T((3, 5, 4, 4)), T((6, 5, 1, 1)), T((6,))], conv2d, tag="pointwise"),
    case("conv2d", [T((2, 4, 5, 6)), T((6, 2, 1, 1))], conv2d, attrs={"groups": 2}, tag="pointwise_groups"),
    case("conv2d", [T((2, 3, 5, 5)), T((4, 3, 1, 1)), T((4,))], conv2d,
         attrs={"stride": (2, 2)}, tag="pointwise_stride"),
    case("conv2d", [T((2, 3, 5, 5), layout="t"), T((4, 3, 2, 2), layout="slice"), T((4,), layout="slice")],
         conv2d, attrs={"padding": (1, 0)}, tag="strided_inputs"),
    case("conv2d", [T((3, 6, 5)), T((2, 3, 3, 3)), T((2,))], conv2d, attrs={"padding": (1, 1)}, tag="unbatched"),
    case("conv2d", [T((2, 1, 4, 4)), T((1, 1, 4, 4)), T((1,))], conv2d, tag="full_window"),
    case("conv2d", [T((2, 2, 3, 3)), T((3, 2, 5, 5)), T((3,))], conv2d,
         attrs={"padding": (2, 2), "stride": (3, 1)}, tag="kernel_gt_input"),
    case("conv2d", [T((0, 3, 5, 5)), T((4, 3, 3, 3)), T((4,))], conv2d, tag="batch0"),
    case("conv2d", [T((4, 16, 10, 10)), T((32, 16, 3, 3)), T((32,))], conv2d,
         attrs={"padding": (1, 1)}, tag="larger"),

    case("max_pool2d", [D((2, 3, 6, 6))], max_pool2d, attrs={"kernel": (2, 2)}),
    case("max_pool2d", [D((2, 3, 7, 8))], max_pool2d, attrs={"kernel": (3, 2), "stride": (2, 1)}, tag="stride"),
    case("max_pool2d", [D((2, 2, 7, 7))], max_pool2d,
         attrs={"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1)}, tag="pad"),
    case("max_pool2d", [D((1, 2, 9, 8))], max_pool2d,
         attrs={"kernel": (2, 3), "stride": (1, 2), "padding": (1, 1), "dilation": (3, 2)}, tag="dilation"),
    case("max_pool2d", [D((2, 2, 7, 6))], max_pool2d,
         attrs={"kernel": (2, 2), "stride": (2, 2), "ceil_mode": True}, tag="ceil"),
    case("max_pool2d", [D((1, 2, 6, 6))], max_pool2d,
         attrs={"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1), "ceil_mode": True}, tag="ceil_pad"),
    case("max_pool2d", [D((3, 5, 6), layout="t")], max_pool2d, attrs={"kernel": (2, 2)}, tag="unbatched_t"),
    case("max_pool2d", [D((0, 2, 4, 4))], max_pool2d, attrs={"kernel": (2, 2)}, tag="batch0"),
    case("max_pool2d", [D((2, 1, 5, 5))], max_pool2d, attrs={"kernel": (5, 5)}, tag="global"),

    case("avg_pool2d", [T((2, 3, 6, 6))], avg_pool2d, attrs={"kernel": (2, 2)}),
    case("avg_pool2d", [T((2, 3, 7, 8))], avg_pool2d, attrs={"kernel": (3, 2), "stride": (2, 1)}, tag="stride"),
    case("avg_pool2d", [T((2, 2, 7, 7))], avg_pool2d,
         attrs={"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1)}, tag="pad"),
    case("avg_pool2d", [T((2, 2, 7, 7))], avg_pool2d,
         attrs={"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1), "count_include_pad": False},
         tag="pad_exclude"),
    case("avg_pool2d", [T((2, 2, 7, 6))], avg_pool2d,
         attrs={"kernel": (2, 2), "stride": (2, 2), "ceil_mode": True}, tag="ceil"),
    case("avg_pool2d", [T((1, 2, 6, 5))], avg_pool2d,
         attrs={"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1), "ceil_mode": True}, tag="ceil_pad"),
    case("avg_pool2d", [T((1, 2, 6, 5))], avg_pool2d,
         attrs={"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1), "ceil_mode": True,
                "count_include_pad": False}, tag="ceil_pad_exclude"),
    case("avg_pool2d", [T((3, 5, 6), layout="slice")], avg_pool2d, attrs={"kernel": (2, 3)}, tag="unbatched_slice"),
    case("avg_pool2d", [T((0, 2, 4, 4))], avg_pool2d, attrs={"kernel": (2, 2)}, tag="batch0"),
]
