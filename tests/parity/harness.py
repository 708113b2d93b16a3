"""Case definitions for the PyTorch parity harness.

A case names a Tessera op (registered in C++ under the same name, see
tests/parity/registry.h), its inputs and attributes, and a torch function that
computes the reference. gen_golden.py evaluates every case with torch, draws a
random upstream gradient for each output, and writes inputs, outputs, upstream
gradients and input gradients to one JSON file that parity_main.cpp replays.
"""
import torch


class T:
    """One input tensor.

    shape:  logical shape.
    dtype:  "f32" (default), "f64", "i64", "bool".
    layout: "contig", "t" (stored transposed in its last two dims: a
            non-contiguous view) or "slice" (every second element of a
            buffer twice as long in the last dim).
    kind:   "randn" (default for floats), "uniform" (low, high),
            "positive" (uniform in [0.5, 2)), "randint" (low, high; default
            for i64), "bool" (p = probability of True), "distinct" (a random
            permutation of distinct values scaled to [-1, 1): no ties, for
            max/argmax/pooling).
    grad:   whether the input requires grad (floats only; default True).
    values: explicit values (nested list) instead of random ones.
    """

    def __init__(self, shape, dtype="f32", layout="contig", kind=None, low=None, high=None,
                 p=0.5, grad=None, values=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.layout = layout
        self.kind = kind or ("randn" if dtype in ("f32", "f64") else "randint" if dtype == "i64" else "bool")
        self.low, self.high, self.p = low, high, p
        self.grad = (dtype in ("f32", "f64")) if grad is None else grad
        self.values = values

    def make(self, gen):
        torch_dtype = {"f32": torch.float32, "f64": torch.float64, "i64": torch.int64, "bool": torch.bool}[self.dtype]
        if self.values is not None:
            return torch.tensor(self.values, dtype=torch_dtype).reshape(self.shape)
        n = 1
        for s in self.shape:
            n *= s
        if self.kind == "randn":
            x = torch.randn(self.shape, generator=gen, dtype=torch.float64)
        elif self.kind == "uniform":
            lo = -1.0 if self.low is None else self.low
            hi = 1.0 if self.high is None else self.high
            x = torch.rand(self.shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo
        elif self.kind == "positive":
            x = torch.rand(self.shape, generator=gen, dtype=torch.float64) * 1.5 + 0.5
        elif self.kind == "distinct":
            x = (torch.randperm(max(n, 1), generator=gen, dtype=torch.float64)[:n] / max(n, 1) * 2 - 1).reshape(self.shape)
        elif self.kind == "randint":
            lo = 0 if self.low is None else self.low
            hi = 10 if self.high is None else self.high
            x = torch.randint(lo, hi, self.shape, generator=gen)
        elif self.kind == "bool":
            x = torch.rand(self.shape, generator=gen) < self.p
        else:
            raise ValueError(f"unknown kind {self.kind}")
        return x.to(torch_dtype)


class Case:
    def __init__(self, op, inputs, fn, attrs=None, tag="", tol=1e-5, grad_tol=None, gradcheck=True,
                 why="", grad_outputs=None):
        self.op = op
        self.inputs = inputs
        self.fn = fn
        self.attrs = attrs or {}
        self.tag = tag
        self.tol = tol
        self.grad_tol = tol if grad_tol is None else grad_tol
        self.gradcheck = gradcheck
        self.why = why  # required when tol > 1e-5: why this op needs a looser bound
        # Per-output flags: False for outputs without a gradient (indices, masks).
        self.grad_outputs = grad_outputs


def case(op, inputs, fn, **kw):
    """fn(*torch_inputs, **attrs) -> tensor or tuple of tensors."""
    return Case(op, inputs, fn, **kw)


def module_case(op, make_module, inputs, attrs=None, train=False, forward=None, tag="", seed=0, **kw):
    """A case for an nn module: its parameters become extra inputs (after
    `inputs`, in named_parameters order, with torch's default-initialized
    values), so the harness compares the gradient of every parameter too.

    make_module() -> torch module; attrs carries its configuration for the C++
    side, plus "params" (the parameter names) and "train" (added here).
    forward(module, *inputs) -> output(s); default module(*inputs).
    The C++ side builds the module from attrs, binds the parameter inputs by
    name (parity::bind_params) and runs the same forward.
    """
    from torch.nn.utils import stateless
    torch.manual_seed(seed)
    m = make_module()
    m.train(train)
    named = list(m.named_parameters())
    names = [n for n, _ in named]
    param_specs = [T(tuple(p.shape), values=p.detach().tolist()) for _, p in named]
    n_in = len(inputs)

    def fn(*tensors, **_):
        xs, ps = tensors[:n_in], tensors[n_in:]
        params = dict(zip(names, ps))
        if forward is None:
            return stateless.functional_call(m, params, tuple(xs))
        return _call_with(m, params, forward, xs)

    a = dict(attrs or {})
    a["params"] = names
    a["train"] = train
    return Case(op, list(inputs) + param_specs, fn, attrs=a, tag=tag, **kw)


def _call_with(m, params, forward, xs):
    """Runs forward(m, *xs) with m's parameters temporarily replaced by `params`."""
    from torch.nn.utils import stateless

    class _Wrap(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return forward(self.inner, *args)

    w = _Wrap(m)
    return stateless.functional_call(w, {"inner." + k: v for k, v in params.items()}, tuple(xs))
