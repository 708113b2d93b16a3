#!/usr/bin/env python3
"""Golden epsilons from Opacus's RDP accountant for tests/privacy/test_rdp_accountant.cpp.

Writes, for include/tessera/privacy/accountant.h to match:
  single:      one (noise multiplier, sample rate, steps) run and a delta ->
               (epsilon, best alpha) from opacus RDPAccountant.get_privacy_spent
  composed:    histories of several runs (settings changing mid-training),
               built with RDPAccountant.step() and by assigning .history
  rdp:         per-order RDP of one step, compute_rdp at every default alpha
               (integer and fractional orders, q = 1)
  noise:       opacus.accountants.utils.get_noise_multiplier for a target
               epsilon (accountant "rdp", its default epsilon_tolerance 0.01)

The single settings are a fixed list of edge cases (sample rate 1.0 and 1e-4,
noise 0.3 and 20, 1 and 100,000 steps) plus a seeded random draw over sample
rates 1e-4..1, noise multipliers 0.3..20 (fractional), steps 1..1e5 and deltas
1e-5..1e-8. The fixture is checked in; the C++ test reads it (or the file named
by TESSERA_RDP_GOLDEN, e.g. a larger draw made with --random N).

How it was run (opacus 1.6.0, torch 2.15.0, scipy 1.17.1, numpy from that venv):
  /work/venv-torch/bin/pip install opacus==1.6.0
  /work/venv-torch/bin/python tests/privacy/gen_rdp_golden.py --out tests/fixtures/privacy/rdp_golden.json
"""
import argparse
import json
import random
import warnings

import numpy as np
import opacus
import scipy
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis import rdp as rdp_analysis
from opacus.accountants.utils import get_noise_multiplier

# Opacus warns when the best order is the smallest or largest alpha; the value
# is still what it returns, and the C++ side must match it there too.
warnings.filterwarnings("ignore", message="Optimal order is the")

EDGE_SINGLE = [
    # (noise multiplier, sample rate, steps, delta)
    (1.0, 1.0, 1, 1e-5),        # q = 1: the plain Gaussian mechanism
    (0.3, 1.0, 100, 1e-6),
    (20.0, 1.0, 100000, 1e-8),
    (1.1, 1e-4, 1, 1e-5),       # tiny sample rate, one step
    (0.3, 1e-4, 100000, 1e-5),  # smallest noise, most steps
    (20.0, 1e-4, 100000, 1e-8),
    (1.0, 0.01, 10000, 1e-5),   # the common MNIST-like setting
    (0.7, 0.004, 60000, 1e-5),
    (1.3, 256 / 60000, 9375, 1e-5),
    (0.3, 0.5, 1, 1e-7),
    (0.3, 0.9, 10, 1e-5),
    (5.0, 0.999, 1000, 1e-6),
    (0.85, 0.02, 2500, 1e-7),
    (2.5, 0.1, 100000, 1e-8),
    (10.0, 0.25, 1, 1e-5),
    (0.5, 1e-3, 12345, 1e-6),
]

COMPOSED = [
    # history entries (noise multiplier, sample rate, steps), delta
    ([(1.0, 0.01, 1000), (2.0, 0.01, 1000)], 1e-5),
    ([(0.8, 0.004, 5000), (0.8, 0.008, 5000)], 1e-5),
    ([(3.0, 0.1, 100), (0.5, 1e-3, 10000), (1.5, 1.0, 3)], 1e-6),
    ([(0.3, 1e-4, 100000), (20.0, 0.5, 10)], 1e-7),
    ([(1.1, 0.02, 1), (1.2, 0.02, 1), (1.1, 0.02, 1)], 1e-8),
    ([(4.0, 0.05, 20000), (1.0, 1.0, 1)], 1e-5),
    ([(0.6, 0.003, 30000), (0.9, 0.003, 30000), (1.2, 0.003, 30000)], 1e-6),
    ([(2.0, 0.25, 500), (2.0, 0.25, 500)], 1e-5),  # equal settings: one entry of 1000 steps
]

RDP_SETTINGS = [(1.0, 0.01), (0.3, 0.2), (5.0, 1e-4), (0.7, 1.0), (20.0, 0.9), (1.5, 0.05)]

NOISE = [
    # (target epsilon, sample rate, steps, delta)
    (0.5, 0.01, 1000, 1e-5),
    (1.0, 0.01, 10000, 1e-5),
    (2.0, 0.004, 60000, 1e-5),
    (3.0, 256 / 60000, 9375, 1e-5),
    (4.0, 0.1, 1000, 1e-6),
    (5.0, 0.02, 5000, 1e-7),
    (8.0, 1e-3, 100000, 1e-5),
    (10.0, 0.05, 100, 1e-8),
    (1.5, 1.0, 10, 1e-5),
    (6.0, 1e-4, 1, 1e-5),
    (0.7, 0.5, 50, 1e-6),
    (2.5, 0.25, 20000, 1e-5),
]


def random_settings(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        q = min(1.0, 10 ** rng.uniform(-4, 0))
        sigma = round(10 ** rng.uniform(np.log10(0.3), np.log10(20)), 3)
        steps = int(round(10 ** rng.uniform(0, 5)))
        delta = rng.choice([1e-5, 1e-6, 1e-7, 1e-8])
        out.append((sigma, q, steps, delta))
    return out


def spent(history, delta):
    acc = RDPAccountant()
    acc.history = list(history)
    eps, alpha = acc.get_privacy_spent(delta=delta)
    return float(eps), float(alpha)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--random", type=int, default=60, help="random single settings beside the edge cases")
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()

    single = []
    for sigma, q, steps, delta in EDGE_SINGLE + random_settings(args.random, args.seed):
        eps, alpha = spent([(sigma, q, steps)], delta)
        single.append({"noise_multiplier": sigma, "sample_rate": q, "steps": steps, "delta": delta,
                       "epsilon": eps, "best_alpha": alpha})

    composed = []
    for history, delta in COMPOSED:
        # step() merges equal consecutive settings as Opacus's training loop does;
        # the result must equal the assigned history's.
        acc = RDPAccountant()
        for sigma, q, steps in history:
            for _ in range(steps):
                acc.step(noise_multiplier=sigma, sample_rate=q)
        eps, alpha = acc.get_privacy_spent(delta=delta)
        assert (eps, alpha) == spent(history, delta)
        composed.append({"history": [list(h) for h in history], "merged_history": [list(h) for h in acc.history],
                         "delta": delta, "epsilon": float(eps), "best_alpha": float(alpha)})

    rdp = []
    for sigma, q in RDP_SETTINGS:
        values = rdp_analysis.compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=RDPAccountant.DEFAULT_ALPHAS)
        rdp.append({"noise_multiplier": sigma, "sample_rate": q, "alphas": RDPAccountant.DEFAULT_ALPHAS,
                    "rdp": [float(v) for v in values]})

    noise = []
    for target, q, steps, delta in NOISE:
        sigma = get_noise_multiplier(target_epsilon=target, target_delta=delta, sample_rate=q, steps=steps,
                                     accountant="rdp")
        noise.append({"target_epsilon": target, "sample_rate": q, "steps": steps, "delta": delta,
                      "epsilon_tolerance": 0.01, "noise_multiplier": float(sigma),
                      "epsilon_at_noise": spent([(sigma, q, steps)], delta)[0]})

    doc = {"source": f"opacus {opacus.__version__} RDPAccountant (scipy {scipy.__version__}, numpy {np.__version__})",
           "generator": "tests/privacy/gen_rdp_golden.py", "seed": args.seed,
           "single": single, "composed": composed, "rdp": rdp, "noise": noise}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{len(single)} single, {len(composed)} composed, {len(rdp)} rdp vectors, {len(noise)} noise -> {args.out}")


if __name__ == "__main__":
    main()
