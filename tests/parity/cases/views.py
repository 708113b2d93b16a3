"""Parity cases: view ops (no copies) and their gradients, on contiguous and non-contiguous inputs."""
import torch
from harness import T, case

CASES = [
    case("view", [T((2, 3, 4))], lambda x, shape: x.view(shape), attrs={"shape": [6, -1]}),
    case("view", [T((2, 3, 4))], lambda x, shape: x.view(shape), attrs={"shape": [24]}, tag="flat"),
    case("reshape", [T((3, 4), layout="t")], lambda x, shape: x.reshape(shape), attrs={"shape": [2, 6]}, tag="t-copies"),
    case("reshape", [T((0, 4))], lambda x, shape: x.reshape(shape), attrs={"shape": [4, 0]}, tag="empty"),
    case("transpose", [T((2, 3, 4))], lambda x, d0, d1: x.transpose(d0, d1), attrs={"d0": 0, "d1": 2}),
    case("transpose", [T((3, 4), layout="slice")], lambda x, d0, d1: x.transpose(d0, d1), attrs={"d0": -1, "d1": -2}, tag="slice"),
    case("permute", [T((2, 3, 4, 5))], lambda x, dims: x.permute(dims), attrs={"dims": [2, 0, 3, 1]}),
    case("permute", [T((3, 4), layout="t")], lambda x, dims: x.permute(dims), attrs={"dims": [1, 0]}, tag="t"),
    case("slice", [T((5, 6))], lambda x, dim, start, end, step: x[:, start:end:step] if dim == 1 else x[start:end:step],
         attrs={"dim": 1, "start": 1, "end": 6, "step": 2}),
    case("slice", [T((5, 6), layout="t")], lambda x, dim, start, end, step: x[start:end:step],
         attrs={"dim": 0, "start": -4, "end": 5, "step": 1}, tag="t-negative-start"),
    case("narrow", [T((4, 5))], lambda x, dim, start, length: x.narrow(dim, start, length), attrs={"dim": 1, "start": 1, "length": 3}),
    case("narrow", [T((4, 5))], lambda x, dim, start, length: x.narrow(dim, start, length), attrs={"dim": 0, "start": 2, "length": 0}, tag="empty"),
    case("select", [T((3, 4, 5))], lambda x, dim, index: x.select(dim, index), attrs={"dim": 1, "index": -1}),
    case("unsqueeze", [T((3, 4), layout="t")], lambda x, dim: x.unsqueeze(dim), attrs={"dim": 1}),
    case("squeeze", [T((3, 1, 4))], lambda x, dim: x.squeeze(dim), attrs={"dim": 1}),
    case("expand", [T((3, 1))], lambda x, shape: x.expand(shape), attrs={"shape": [2, 3, 4]}),
    case("expand", [T((1, 4), layout="slice")], lambda x, shape: x.expand(shape), attrs={"shape": [5, -1]}, tag="slice"),
    case("flatten", [T((2, 3, 4), layout="t")], lambda x, start, end: x.flatten(start, end), attrs={"start": 1, "end": 2}),
    case("contiguous", [T((3, 4), layout="t")], lambda x: x.contiguous()),
    case("clone", [T((3, 4), layout="slice")], lambda x: x.clone()),
    case("to_f64", [T((3, 4))], lambda x: x.double()),
]
