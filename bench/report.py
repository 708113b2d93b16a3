#!/usr/bin/env python3
"""Turns one bench/run.sh results directory into a markdown report: the
machine's state, the side-by-side table and the per-run load log.

Each run (one side, one pair, one thread count) gives a median throughput per
benchmark; the table shows, per side, the median of those run medians, and the
ratio Tessera / PyTorch (above 1: Tessera is faster). "pair ratios" is the
range of the ratio within each Tessera-then-PyTorch pair, which shows how much
the machine's drift moved the comparison. "ratio by CPU time" divides each
side's work by its process's CPU time instead of wall-clock time: at 1 thread
that barely depends on what else the shared machine runs (memory bandwidth
and caches are still shared). Standard library only.

Usage: report.py RESULTS_DIR   (writes markdown to stdout)
"""
import glob
import json
import os
import re
import statistics
import sys
from collections import defaultdict


def tessera_run(path):
    """{name: (unit, wall-clock median, CPU-time median)} from a Google Benchmark JSON file."""
    with open(path) as f:
        doc = json.load(f)
    reps = defaultdict(list)
    cpu_reps = defaultdict(list)
    units = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        name = re.sub(r"(/process_time|/real_time)+$", "", b["run_name"])
        for counter, unit in (("GFLOP", "GFLOP/s"), ("GB", "GB/s")):
            if counter in b:  # a rate by wall-clock time (UseRealTime)
                reps[name].append(b[counter])
                cpu_reps[name].append(b[counter] * b["real_time"] / max(b["cpu_time"], 1e-12))
                units[name] = unit
    return {n: (units[n], statistics.median(v), statistics.median(cpu_reps[n])) for n, v in reps.items()}


def torch_run(path):
    with open(path) as f:
        doc = json.load(f)
    return {r["name"]: (r["unit"], r["value"], r.get("cpu_value")) for r in doc["results"]}


def load(out_dir, side, reader):
    """{(name, pair): (unit, wall value, cpu value)} over every run file of one side."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(out_dir, f"{side}_p*_t*.json"))):
        pair = int(re.search(r"_p(\d+)_t", path).group(1))
        for name, uv in reader(path).items():
            runs[(name, pair)] = uv
    return runs


def sort_key(name):
    op, size, threads = name.split("/")
    order = ["matmul", "add", "mul", "relu", "gelu", "gelu_tanh", "exp", "sum_lastdim", "softmax", "layer_norm"]
    rank = order.index(op) if op in order else len(order)
    numbers = [int(x) for x in re.findall(r"\d+", size)]
    scale = 1 << 20 if size.endswith("M") else 1
    return (int(threads[1:]), rank, [n * scale for n in numbers])


def fmt(v):
    return "—" if v is None else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def median_of(runs, name, index):
    vals = {p: v[index] for (n, p), v in runs.items() if n == name and v[index] is not None}
    return vals, (statistics.median(vals.values()) if vals else None)


def table(tess, torch):
    names = sorted({n for n, _ in tess} | {n for n, _ in torch}, key=sort_key)
    lines = [
        "| op | size | threads | unit | Tessera | PyTorch | Tessera / PyTorch | pair ratios | ratio by CPU time |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        op, size, threads = name.split("/")
        unit = next(v[0] for (n, _), v in list(tess.items()) + list(torch.items()) if n == name)
        t_vals, t_med = median_of(tess, name, 1)
        p_vals, p_med = median_of(torch, name, 1)
        ratio = f"{t_med / p_med:.2f}" if t_med and p_med else "—"
        pair_ratios = [t_vals[p] / p_vals[p] for p in t_vals if p in p_vals and p_vals[p]]
        spread = f"{min(pair_ratios):.2f}–{max(pair_ratios):.2f}" if len(pair_ratios) > 1 else "—"
        cpu_ratio = "—"
        if threads == "t1":  # with more threads, CPU time counts idle spinning too
            _, t_cpu = median_of(tess, name, 2)
            _, p_cpu = median_of(torch, name, 2)
            if t_cpu and p_cpu:
                cpu_ratio = f"{t_cpu / p_cpu:.2f}"
        lines.append(f"| {op} | {size} | {threads[1:]} | {unit} | {fmt(t_med)} | {fmt(p_med)} | {ratio} | {spread} | {cpu_ratio} |")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    tess = load(out_dir, "tessera", tessera_run)
    torch = load(out_dir, "torch", torch_run)
    pairs = sorted({p for _, p in tess} | {p for _, p in torch})
    print(f"## Tessera vs PyTorch ({os.path.basename(os.path.normpath(out_dir))})\n")
    print(f"Throughput by wall-clock time, median over {len(pairs)} alternating pair(s) (a Tessera run, then "
          "a PyTorch run) of each run's median; higher is better; a ratio above 1 means Tessera is faster. "
          "*pair ratios*: the lowest and highest ratio within one pair. *ratio by CPU time*: the same ratio "
          "with each side's time taken as its process's CPU time, which other processes on the machine "
          "barely move (1 thread only).\n")
    print(table(tess, torch))
    missing = sorted({n for n, _ in torch} - {n for n, _ in tess}, key=sort_key)
    if missing:
        print(f"\nNo Tessera number (op missing or failed): {', '.join(missing)}")
    print("\n### Machine\n\n```")
    with open(os.path.join(out_dir, "machine.txt")) as f:
        print(f.read().rstrip())
    for path in sorted(glob.glob(os.path.join(out_dir, "tessera_p*_t*.json")))[:1]:
        with open(path) as f:
            ctx = json.load(f).get("context", {})
        print(f"tessera_gemm: {ctx.get('tessera_gemm', 'unknown')}")
        print(f"host_reported_by_google_benchmark: {ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz")
    print("```\n\n### Runs, in order, with the other load on the machine during each\n")
    print("others % = CPU time used by other processes during the run, as a share of all CPUs; "
          "steal % = time the hypervisor gave our vCPUs to other guests.\n")
    with open(os.path.join(out_dir, "runs.tsv")) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    header = ["side", "pair", "threads", "wall s", "own CPU s", "others %", "steal %", "load (1 min)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows[1:]:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
