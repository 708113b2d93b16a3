"""Module parity: Linear, Embedding, LayerNorm, RMSNorm, Dropout(p=0), Flatten, activations, Sequential."""
import torch
from harness import T, case, module_case

nn = torch.nn


class RMSNormRef(nn.Module):
    """torch 1.13 has no nn.RMSNorm: the reference formula of torch >= 2.4."""

    def __init__(self, shape, eps=None):
        super().__init__()
        self.shape = tuple(shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.shape))

    def forward(self, x):
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        dims = tuple(range(-len(self.shape), 0))
        return x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps) * self.weight


CASES = [
    module_case("nn_linear", lambda: nn.Linear(5, 3), [T((4, 5))], attrs={"in": 5, "out": 3, "bias": True}),
    module_case("nn_linear", lambda: nn.Linear(5, 3, bias=False), [T((2, 3, 5), layout="t")],
                attrs={"in": 5, "out": 3, "bias": False}, tag="nobias-3d-t"),
    module_case("nn_linear", lambda: nn.Linear(7, 2), [T((0, 7))], attrs={"in": 7, "out": 2, "bias": True}, tag="empty"),
    module_case("nn_embedding", lambda: nn.Embedding(10, 4), [T((2, 3), dtype="i64", low=0, high=10)],
                attrs={"num": 10, "dim": 4, "padding_idx": None}),
    module_case("nn_embedding", lambda: nn.Embedding(6, 3, padding_idx=0), [T((7,), dtype="i64", low=0, high=6)],
                attrs={"num": 6, "dim": 3, "padding_idx": 0}, tag="padding",
                gradcheck=False),  # the padding row gets no gradient by definition, unlike a finite difference
    module_case("nn_layernorm", lambda: nn.LayerNorm(6), [T((3, 6))], attrs={"shape": [6], "eps": 1e-5}),
    module_case("nn_layernorm", lambda: nn.LayerNorm([2, 3], eps=1e-3), [T((4, 2, 3))], attrs={"shape": [2, 3], "eps": 1e-3},
                tag="2d"),
    module_case("nn_rmsnorm", lambda: RMSNormRef([6]), [T((3, 6))], attrs={"shape": [6]}),
    module_case("nn_dropout_p0", lambda: nn.Dropout(0.0), [T((3, 4))], train=True),
    module_case("nn_dropout_eval", lambda: nn.Dropout(0.5), [T((3, 4))], train=False),
    module_case("nn_flatten", lambda: nn.Flatten(), [T((2, 3, 4))]),
    module_case("nn_mlp", lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 8),
                                                nn.Tanh(), nn.Linear(8, 8), nn.SiLU(), nn.Linear(8, 8), nn.Sigmoid(),
                                                nn.Linear(8, 3), nn.Softmax(-1)),
                [T((5, 4))]),
    module_case("nn_gelu_tanh", lambda: nn.GELU(approximate="tanh"), [T((3, 4))]),
]
