#!/usr/bin/env python3
"""The PyTorch side of bench/bench_ops.cpp: same ops, sizes, names and
throughput definitions, timed the way Google Benchmark times them (an
iteration count calibrated to reach --min-time, then --reps repetitions of
that many calls; the median repetition is reported).

Run it with the PyPI torch in the venv made by bench/setup_torch.sh; bench/run.sh
does. Writes JSON: {"context": {...}, "results": [{"name", "unit", "value",
"reps", "cpu_value"}]} where value is the median throughput by wall-clock time
and cpu_value the median by the process's CPU time (all threads).
"""
import argparse
import json
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

F32 = 4

# Sizes: keep in sync with bench/bench_ops.cpp.
MATMUL_SIZES = [256, 512, 1024, 2048]
ELEMENTWISE_SIZES = [1 << 20, 1 << 24]
ROW_SHAPES = [(8192, 768), (1024, 4096)]


def size_name(n):
    return f"{n >> 20}M" if n % (1 << 20) == 0 else str(n)


def benches(threads):
    """Yields (name, unit, amount per call, setup) where setup() returns the
    call to time; amount is GFLOP or GB."""
    t = f"/t{threads}"
    for n in MATMUL_SIZES:
        def setup(n=n):
            a, b = torch.randn(n, n), torch.randn(n, n)
            return lambda: torch.matmul(a, b)
        yield f"matmul/{n}{t}", "GFLOP/s", 2.0 * n ** 3 * 1e-9, setup

    binary = [("add", torch.add), ("mul", torch.mul)]
    unary = [
        ("relu", torch.relu),
        ("gelu", F.gelu),
        ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")),
        ("exp", torch.exp),
    ]
    for n in ELEMENTWISE_SIZES:
        for name, op in binary:
            def setup(n=n, op=op):
                a, b = torch.randn(n), torch.randn(n)
                return lambda: op(a, b)
            yield f"{name}/{size_name(n)}{t}", "GB/s", 3.0 * n * F32 * 1e-9, setup
        for name, op in unary:
            def setup(n=n, op=op):
                x = torch.randn(n)
                return lambda: op(x)
            yield f"{name}/{size_name(n)}{t}", "GB/s", 2.0 * n * F32 * 1e-9, setup
    for r, c in ROW_SHAPES:
        shape = f"{r}x{c}"

        def setup_sum(r=r, c=c):
            x = torch.randn(r, c)
            return lambda: torch.sum(x, dim=-1)

        def setup_softmax(r=r, c=c):
            x = torch.randn(r, c)
            return lambda: torch.softmax(x, dim=-1)

        def setup_ln(r=r, c=c):
            x, w, b = torch.randn(r, c), torch.randn(c), torch.randn(c)
            return lambda: F.layer_norm(x, (c,), w, b)

        yield f"sum_lastdim/{shape}{t}", "GB/s", (r * c + r) * F32 * 1e-9, setup_sum
        yield f"softmax/{shape}{t}", "GB/s", 2.0 * r * c * F32 * 1e-9, setup_softmax
        yield f"layer_norm/{shape}{t}", "GB/s", (2.0 * r * c + 2.0 * c) * F32 * 1e-9, setup_ln


def time_call(fn, min_time, reps):
    """(wall seconds, process CPU seconds) per call for each repetition."""
    for _ in range(2):  # warm caches, allocator and thread pool
        fn()
    iters = 1
    while True:  # calibrate as Google Benchmark does: grow until min_time is reached
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or iters >= 1_000_000:
            break
        iters = max(iters + 1, int(iters * min(10.0, 1.4 * min_time / max(dt, 1e-9))))
    out = []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(iters):
            fn()
        t1, c1 = time.perf_counter(), time.process_time()
        out.append(((t1 - t0) / iters, (c1 - c0) / iters))
    return out


def describe():
    """One line per fact about this torch build that decides its speed here."""
    cfg = torch.__config__.show()
    facts = [f"torch {torch.__version__} (python {sys.version.split()[0]}), default threads {torch.get_num_threads()}"]
    blas = re.search(r"BLAS_INFO=(\w+)", cfg)
    facts.append("BLAS: " + (blas.group(1) if blas else "unknown"))
    for line in cfg.splitlines():
        line = line.strip(" -")
        if re.match(r"(Intel\(R\) oneAPI Math Kernel|Intel\(R\) MKL-DNN|OpenMP|CPU capability)", line):
            facts.append(line)
    return facts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds per repetition (at least)")
    ap.add_argument("--filter", default="", help="regex on benchmark names")
    ap.add_argument("--out", help="JSON output file (default: stdout)")
    ap.add_argument("--show-config", action="store_true", help="print torch's build config and exit")
    ap.add_argument("--describe", action="store_true", help="print the build facts that matter here and exit")
    args = ap.parse_args()

    if args.show_config:
        print(torch.__config__.show())
        print("parallel info:\n" + torch.__config__.parallel_info())
        return

    if args.describe:
        print("\n".join(describe()))
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ctx = {
        "torch_threads": torch.get_num_threads(),
        "torch_build": describe(),
    }
    results = []
    pattern = re.compile(args.filter)
    with torch.inference_mode():
        for name, unit, amount, setup in benches(args.threads):
            if not pattern.search(name):
                continue
            secs = time_call(setup(), args.min_time, args.reps)
            rates = [amount / wall for wall, _ in secs]
            cpu_rates = [amount / max(cpu, 1e-12) for _, cpu in secs]
            results.append({"name": name, "unit": unit, "value": statistics.median(rates), "reps": rates,
                            "cpu_value": statistics.median(cpu_rates)})
            print(f"{name:28s} {statistics.median(rates):9.2f} {unit}", file=sys.stderr)
    doc = json.dumps({"context": ctx, "results": results}, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(doc + "\n")
    else:
        print(doc)


if __name__ == "__main__":
    main()
