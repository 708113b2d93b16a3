"""Module parity: RNN (tanh, relu), LSTM, GRU — layers, directions, batch_first, initial states, sequence lengths.

Inputs are [x, h0?, c0?] then the parameters (module_case). attrs "states" tells
the C++ side how many initial states follow x.
"""
import torch
from harness import T, module_case

nn = torch.nn

I, H, N = 4, 3, 2  # input size, hidden size, batch


def _forward(lstm):
    def f(m, x, *states):
        # functional_call swaps the parameters, but RNNBase caches them in
        # _flat_weights (torch 1.13): refresh the cache from the swapped ones.
        m._flat_weights = [getattr(m, n) for n in m._flat_weights_names]
        if lstm:
            out, (h, c) = m(x, (states[0], states[1])) if states else m(x)
            return out, h, c
        out, h = m(x, states[0]) if states else m(x)
        return out, h
    return f


def rnn_case(kind, L, layers=1, bidir=False, batch_first=False, states=False, bias=True, nonlin="tanh",
             dropout=0.0, train=False, unbatched=False, layout="contig", tag=""):
    op = {"rnn": "nn_rnn", "lstm": "nn_lstm", "gru": "nn_gru"}[kind]
    D = 2 if bidir else 1

    def make():
        kw = dict(num_layers=layers, bias=bias, batch_first=batch_first, dropout=dropout, bidirectional=bidir)
        if kind == "rnn":
            return nn.RNN(I, H, nonlinearity=nonlin, **kw)
        return (nn.LSTM if kind == "lstm" else nn.GRU)(I, H, **kw)

    if unbatched:
        xs, ss = (L, I), (D * layers, H)
    else:
        xs, ss = ((N, L, I) if batch_first else (L, N, I)), (D * layers, N, H)
    inputs = [T(xs, layout=layout)]
    n_states = 0
    if states:
        n_states = 2 if kind == "lstm" else 1
        inputs += [T(ss) for _ in range(n_states)]
    attrs = {"input_size": I, "hidden": H, "layers": layers, "bias": bias, "batch_first": batch_first,
             "bidirectional": bidir, "dropout": dropout, "nonlinearity": nonlin, "states": n_states}
    name = tag or f"{kind}-L{L}-l{layers}{'-bi' if bidir else ''}{'-bf' if batch_first else ''}" \
                  f"{'-h0' if states else ''}{'' if bias else '-nobias'}{'-relu' if nonlin == 'relu' else ''}"
    return module_case(op, make, inputs, attrs=attrs, train=train, forward=_forward(kind == "lstm"), tag=name)


CASES = []
for kind in ("rnn", "lstm", "gru"):
    CASES += [
        rnn_case(kind, 5),
        rnn_case(kind, 1, states=True),
        rnn_case(kind, 1, layers=2, bidir=True, batch_first=True),
        rnn_case(kind, 5, layers=2, states=True),
        rnn_case(kind, 5, layers=2, bidir=True, batch_first=True, states=True),
        rnn_case(kind, 4, bidir=True, states=True, layout="t", tag=f"{kind}-bi-h0-noncontig"),
        rnn_case(kind, 3, layers=2, bias=False, batch_first=True),
        rnn_case(kind, 4, states=True, unbatched=True, bidir=True, tag=f"{kind}-unbatched-bi-h0"),
        # dropout between layers: off in eval mode, and p = 0 in training mode
        rnn_case(kind, 4, layers=2, dropout=0.5, train=False, tag=f"{kind}-dropout-eval"),
        rnn_case(kind, 4, layers=3, dropout=0.0, train=True, batch_first=True, tag=f"{kind}-l3-train-p0"),
    ]
CASES += [
    rnn_case("rnn", 5, layers=2, bidir=True, states=True, nonlin="relu"),
    rnn_case("rnn", 1, batch_first=True, nonlin="relu"),
    # a longer recurrence: rounding must not build up past 1e-5
    rnn_case("lstm", 24, layers=2, bidir=True, states=True, tag="lstm-L24-l2-bi-h0"),
    rnn_case("gru", 24, batch_first=True, states=True, tag="gru-L24-bf-h0"),
]

# The acceptance case: a 2-layer LSTM whose torch state_dict is loaded by name
# (load_state_dict on the C++ side, not parameter binding), then compared on
# outputs and on the gradients of the input and initial states. The
# parameters are plain values here (no gradient compared: load_state_dict
# copies them into the module's own leaves); the nn_lstm cases above compare
# every parameter gradient under the same names.
for bf in (False, True):
    c = rnn_case("lstm", 6, layers=2, batch_first=bf, states=True, tag=f"lstm-2layer-state-dict{'-bf' if bf else ''}")
    c.op = "nn_lstm_load_state_dict"
    for spec in c.inputs[3:]:
        spec.grad = False
    # No float64 gradcheck: load_state_dict copies into the module's float32
    # parameters, so a float64 input cannot run; the nn_lstm cases gradcheck
    # the same forward.
    c.gradcheck = False
    CASES.append(c)
