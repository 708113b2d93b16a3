"""Parity cases for matrix products: matmul (1-D, 2-D, batched, broadcast
batch dims), mm, bmm, linear. Layout "t" operands reach BLAS as transposes
without a copy; "slice" ones (stride 2) are copied first."""
import torch
import torch.nn.functional as F

from harness import T, case


def matmul(a, b):
    return torch.matmul(a, b)


def linear(x, w, b=None):
    return F.linear(x, w, b)


CASES = [
    # 2-D, every transpose combination.
    case("matmul", [T((3, 4)), T((4, 5))], matmul),
    case("matmul", [T((3, 4), layout="t"), T((4, 5))], matmul, tag="ta"),
    case("matmul", [T((3, 4)), T((4, 5), layout="t")], matmul, tag="tb"),
    case("matmul", [T((3, 4), layout="t"), T((4, 5), layout="t")], matmul, tag="tab"),
    case("matmul", [T((3, 4), layout="slice"), T((4, 5), layout="slice")], matmul, tag="slice"),
    # 1-D operands.
    case("matmul", [T((4,)), T((4,))], matmul, tag="dot"),
    case("matmul", [T((4,)), T((4, 5))], matmul, tag="vec_mat"),
    case("matmul", [T((3, 4)), T((4,))], matmul, tag="mat_vec"),
    case("matmul", [T((3, 4), layout="t"), T((4,), layout="slice")], matmul, tag="matT_vec"),
    case("matmul", [T((4,)), T((2, 4, 5))], matmul, tag="vec_batch"),
    case("matmul", [T((2, 3, 4)), T((4,))], matmul, tag="batch_vec"),
    # Batched and broadcast batch dims.
    case("matmul", [T((2, 3, 4)), T((2, 4, 5))], matmul, tag="batch"),
    case("matmul", [T((2, 3, 4), layout="t"), T((2, 4, 5), layout="t")], matmul, tag="batch_t"),
    case("matmul", [T((2, 1, 3, 4)), T((3, 4, 5))], matmul, tag="bcast"),
    case("matmul", [T((1, 3, 4)), T((2, 3, 4, 5), layout="t")], matmul, tag="bcast_t"),
    case("matmul", [T((2, 3, 4)), T((4, 5))], matmul, tag="batch_mat"),  # one folded GEMM
    case("matmul", [T((2, 3, 4), layout="t"), T((4, 5))], matmul, tag="batchT_mat"),
    case("matmul", [T((3, 4)), T((2, 4, 5))], matmul, tag="mat_batch"),
    case("matmul", [T((3, 4), layout="t"), T((2, 2, 4, 5), layout="t")], matmul, tag="matT_batchT"),
    case("matmul", [T((8, 6, 7)), T((8, 7, 5))], matmul, tag="batch8"),  # one GEMM per thread
    # Size-1 and empty dims.
    case("matmul", [T((1, 4)), T((4, 1))], matmul, tag="1x1"),
    case("matmul", [T((3, 1)), T((1, 5), layout="t")], matmul, tag="k1"),
    case("matmul", [T((3, 0)), T((0, 5))], matmul, tag="k0"),
    case("matmul", [T((0, 4)), T((4, 5))], matmul, tag="m0"),
    case("matmul", [T((0, 3, 4)), T((4, 5))], matmul, tag="batch0"),
    case("matmul", [T((2, 3, 4)), T((2, 4, 0))], matmul, tag="n0"),
    # A long reduction: the sum order differs from torch's BLAS, still within 1e-5 of max|ref|.
    case("matmul", [T((16, 1024)), T((1024, 24), layout="t")], matmul, tag="k1024"),
    case("matmul", [T((40, 70)), T((70, 90))], matmul, tag="odd_sizes"),

    case("mm", [T((3, 4)), T((4, 5))], lambda a, b: torch.mm(a, b)),
    case("mm", [T((3, 4), layout="t"), T((4, 5), layout="t")], lambda a, b: torch.mm(a, b), tag="t"),
    case("mm", [T((3, 4), layout="slice"), T((4, 5))], lambda a, b: torch.mm(a, b), tag="slice"),
    case("bmm", [T((2, 3, 4)), T((2, 4, 5))], lambda a, b: torch.bmm(a, b)),
    case("bmm", [T((2, 3, 4), layout="t"), T((2, 4, 5), layout="slice")], lambda a, b: torch.bmm(a, b), tag="t"),
    case("bmm", [T((3, 1, 4)), T((3, 4, 1))], lambda a, b: torch.bmm(a, b), tag="size1"),

    case("linear", [T((2, 3, 4)), T((5, 4)), T((5,))], linear),
    case("linear", [T((2, 3, 4)), T((5, 4))], linear, tag="nobias"),
    case("linear", [T((4,)), T((5, 4)), T((5,))], linear, tag="1d"),
    case("linear", [T((3, 4), layout="t"), T((5, 4), layout="t"), T((5,))], linear, tag="t"),
    case("linear", [T((3, 4), layout="slice"), T((5, 4)), T((5,), layout="slice")], linear, tag="slice"),
    case("linear", [T((0, 4)), T((5, 4)), T((5,))], linear, tag="rows0"),
    case("linear", [T((3, 0)), T((5, 0)), T((5,))], linear, tag="in0"),
    case("linear", [T((2, 2, 3, 6)), T((1, 6)), T((1,))], linear, tag="out1"),
]
