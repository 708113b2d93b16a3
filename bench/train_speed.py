#!/usr/bin/env python3
"""Training speed, Tessera beside the PyTorch a user would run (issue 14), in one
alternated run: for each thread count and workload, every column runs once per
round (A B C ... A B C ...), so a drift of this shared machine hits all columns
alike. Prints a markdown table of throughput after warm-up and the peak resident
memory of every run, with the machine's state; bench/train_speed.sh is the entry.

Workloads (same model, init scale, optimizer and data on both sides):
  shakespeare_char  examples/shakespeare_char.json (nanoGPT's CPU baby GPT, char vocab)
  gpt_6x384         the same recipe with a 6-layer, 6-head, 384-wide GPT, block 256 (nanoGPT's
                    train_shakespeare_char model), char vocab, batch 8
  gpt2_124m         GPT-2 124M shape: 12 layers, 12 heads, 768 wide, block 256,
                    batch 4, GPT-2 BPE
  fashion_cnn       examples/fashion_mnist_cnn.json (samples/s)
  mnist_vit         examples/mnist_vit.json (samples/s)
Columns: Tessera fp32, Tessera bf16 (`--precision bf16`; skipped with a note when
this build has no such flag), PyTorch eager fp32, torch.compile fp32 (compiling
steps untimed), PyTorch eager with torch.autocast("cpu", torch.bfloat16).

Throughput: Tessera's metrics.jsonl logs cumulative step-loop time at the
warm-up step and at the last step (the recipe's log_every is set to the warm-up
count), so the figure covers the steps after warm-up only; the PyTorch scripts
time the same steps (--warmup). Evaluation is outside the figure on both sides.
Peak RSS: the run's maximum resident set size, the whole process (PyTorch's
includes the interpreter and its libraries, as a user's run does), read by
/usr/bin/time -f %M around it: a child's ru_maxrss also counts the pages of the
process it was forked from, so this driver (which never imports torch) forks
the small `time` program rather than the command itself.

Usage: train_speed.py --tessera BIN --work DIR [--quick] [--rounds N]
         [--threads "1 2"] [--only REGEX] [--skip-compile] [--out FILE.md]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")

# name: (recipe, data kind, model override, batch size, unit, (steps, warm-up) full, (steps, warm-up) quick)
WORKLOADS = [
    ("shakespeare_char", "examples/shakespeare_char.json", "char", None, None, "tokens/s", (300, 30), (40, 10)),
    # nanoGPT's train_shakespeare_char model (char vocab), the shape issue 14 names:
    ("gpt_6x384", "examples/shakespeare_char.json", "char",
     {"block_size": 256, "n_layer": 6, "n_head": 6, "n_embd": 384}, 8, "tokens/s", (30, 6), (5, 2)),
    ("gpt2_124m", "examples/shakespeare_char.json", "bpe",
     {"block_size": 256, "n_layer": 12, "n_head": 12, "n_embd": 768}, 4, "tokens/s", (8, 2), (3, 1)),
    ("fashion_cnn", "examples/fashion_mnist_cnn.json", "fashion-mnist", None, None, "samples/s", (200, 20), (30, 10)),
    ("mnist_vit", "examples/mnist_vit.json", "mnist", None, None, "samples/s", (100, 10), (25, 5)),
]
COLUMNS = ["tessera_fp32", "tessera_bf16", "torch_eager", "torch_compile", "torch_bf16"]
TITLES = {"tessera_fp32": "Tessera fp32", "tessera_bf16": "Tessera bf16", "torch_eager": "PyTorch eager",
          "torch_compile": "torch.compile", "torch_bf16": "PyTorch bf16 autocast"}


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def load_avg():
    return open("/proc/loadavg").read().split()[0]


def machine_state(a):
    flags = set(open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split()) if os.path.exists(
        "/proc/cpuinfo") else set()
    commit = sh(f"git -C {ROOT} rev-parse --short HEAD") or "unknown"
    if sh(f"git -C {ROOT} status --porcelain --untracked-files=no"):
        commit += " (dirty tree)"
    torch = sh(f"{sys.executable} -c 'import torch; print(torch.__version__)'")  # not imported here: see run_child
    cpu = re.search(r"^Model name:\s*(.*)$", sh("lscpu"), re.M)
    return [
        f"date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
        f"CPU: {cpu.group(1) if cpu else 'unknown'}, {os.cpu_count()} logical CPUs",
        "CPU flags: " + ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in
                                  ("avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16")),
        f"Tessera: commit {commit}, binary {a.tessera}, bf16 flag: "
        f"{'yes' if a.bf16_flag else 'no (this build has no --precision; Tessera bf16 column skipped)'}",
        f"PyTorch: {torch} ({sys.executable})",
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
        f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}, "
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', 'unset')}",
    ]


def prepare_data(a):
    """Token shards and image folders, made once under --work and reused."""
    d = {"fashion-mnist": "/usr/share/datasets/fashion-mnist"}
    char, bpe, mnist = (os.path.join(a.work, x) for x in ("shakespeare_char", "shakespeare_gpt2", "mnist"))
    text = os.path.join(SHARED, "tinyshakespeare", "input.txt")
    if not os.path.exists(os.path.join(char, "meta.json")):
        subprocess.run([a.tessera, "data", "prepare", "--train-tokenizer", "char", "--split", "contiguous",
                        "--val-fraction", "0.1", "--input", text, "--out", char, "-q"], check=True)
    if not os.path.exists(os.path.join(bpe, "meta.json")):
        subprocess.run([a.tessera, "data", "prepare", "--tokenizer", os.path.join(SHARED, "gpt2-tokenizer"),
                        "--split", "contiguous", "--val-fraction", "0.1", "--input", text, "--out", bpe, "-q"],
                       check=True)
    if not os.path.exists(os.path.join(mnist, "train-labels-idx1-ubyte.gz")):
        os.makedirs(mnist, exist_ok=True)
        subprocess.run(["sh", os.path.join(SHARED, "mnist", "assemble.sh"), mnist], check=True,
                       stdout=subprocess.DEVNULL)
    d.update({"char": char, "bpe": bpe, "mnist": mnist})
    return d


def write_recipe(a, name, recipe, model, batch, warmup, for_torch):
    r = json.load(open(os.path.join(ROOT, recipe)))
    if model:
        r["model"].update(model)
    if batch:
        r["train"]["batch_size"] = batch
    r["train"]["log_every"] = warmup  # a metrics.jsonl record at the end of warm-up
    if r["task"] == "language_model":
        r["train"]["eval_batches"] = 0 if for_torch else 1  # Tessera needs >= 1; outside the figure anyway
    path = os.path.join(a.work, f"{name}{'_torch' if for_torch else ''}.json")
    with open(path, "w") as f:
        json.dump(r, f, indent=1)
    return path, r["task"] == "language_model", r["train"]["batch_size"]


def run_child(cmd, log, timeout):
    """Runs cmd; returns (exit status, peak RSS MiB, wall s). Output goes to log."""
    t0 = time.monotonic()
    rss_file = log + ".rss"
    timer = ["/usr/bin/time", "-f", "%M", "-o", rss_file] if os.access("/usr/bin/time", os.X_OK) else []
    with open(log, "w") as f:
        p = subprocess.Popen(timer + cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(p.pid, 9)  # `time` and the run under it
                pid, status, usage = os.wait4(p.pid, 0)
                status = -1
                break
            time.sleep(0.05)
    p.returncode = 0  # reaped here; keep Popen from waiting again
    code = os.waitstatus_to_exitcode(status) if status >= 0 else "timeout"
    rss_kib = usage.ru_maxrss  # without `time`: includes this driver's own pages (tens of MiB)
    try:
        rss_kib = int(open(rss_file).read().split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return code, rss_kib / 1024, time.monotonic() - t0


def tessera_rate(metrics, warmup, lm, batch):
    """Throughput over the steps after warm-up, from the cumulative step-loop rates in metrics.jsonl."""
    recs = [json.loads(l) for l in open(metrics) if l.strip()]
    recs = [r for r in recs if r.get("type") == "train"]
    w = next(r for r in recs if r["step"] == warmup)
    n = recs[-1]
    if lm:
        count = lambda r: r["tokens"]  # noqa: E731
        rate = lambda r: r["tokens_per_second"]  # noqa: E731
    else:
        count = lambda r: r["step"] * batch  # noqa: E731
        rate = lambda r: r["samples_per_second"]  # noqa: E731
    seconds = count(n) / rate(n) - count(w) / rate(w)
    return (count(n) - count(w)) / seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True, help="the tessera binary")
    ap.add_argument("--work", required=True, help="data and run folder (data kept between runs)")
    ap.add_argument("--quick", action="store_true", help="a few steps per cell: a smoke run of a few minutes")
    ap.add_argument("--rounds", type=int, default=1, help="alternation rounds (each runs every column once)")
    ap.add_argument("--threads", default="1 2")
    ap.add_argument("--only", default="", help="regex over workload names")
    ap.add_argument("--columns", default=",".join(COLUMNS), help="comma-separated subset of " + ",".join(COLUMNS))
    ap.add_argument("--timeout", type=int, default=900, help="seconds per run before it is killed")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    a.tessera = os.path.abspath(a.tessera)
    os.makedirs(a.work, exist_ok=True)
    a.bf16_flag = "--precision" in sh(f"{a.tessera} pretrain --help") and "--precision" in sh(
        f"{a.tessera} train --help")
    columns = [c for c in a.columns.split(",") if c in COLUMNS and (c != "tessera_bf16" or a.bf16_flag)]
    state = machine_state(a)
    state.append(f"load average before: {open('/proc/loadavg').read().strip()}")
    print("\n".join(state), flush=True)
    data = prepare_data(a)
    py = sys.executable
    results = {}  # (threads, workload, column) -> list of (rate, rss)
    raw = []
    t_start = time.monotonic()
    for th in a.threads.split():
        for name, recipe, kind, model, batch, unit, full, quick in WORKLOADS:
            if a.only and not re.search(a.only, name):
                continue
            steps, warmup = quick if a.quick else full
            trecipe, lm, bs = write_recipe(a, name, recipe, model, batch, warmup, False)
            precipe, _, _ = write_recipe(a, name, recipe, model, batch, warmup, True)
            for rnd in range(1, a.rounds + 1):
                for col in columns:
                    run = os.path.join(a.work, "run")
                    shutil.rmtree(run, ignore_errors=True)
                    summary = os.path.join(a.work, "torch_summary.json")
                    if col.startswith("tessera"):
                        cmd = [a.tessera, "pretrain" if lm else "train", "--config", trecipe, "--data", data[kind],
                               "--out", run, "--steps", str(steps), "--threads", th, "-q"]
                        cmd += ["--eval-every", "0"] if lm else []
                        cmd += ["--precision", "bf16"] if col == "tessera_bf16" else []
                    else:
                        script = "torch_gpt_train.py" if lm else "torch_cnn_train.py"
                        cmd = [py, os.path.join(HERE, script), "--config", precipe, "--data", data[kind],
                               "--steps", str(steps), "--warmup", str(warmup), "--threads", th, "--out", summary]
                        cmd += ["--eval-every", "0", "-q"] if lm else []
                        cmd += {"torch_compile": ["--compile"], "torch_bf16": ["--bf16"]}.get(col, [])
                    log = os.path.join(a.work, f"{name}_{col}_t{th}_r{rnd}.log")
                    l0 = load_avg()
                    code, rss, wall = run_child(cmd, log, a.timeout)
                    l1 = load_avg()
                    rate = None
                    if code == 0:
                        try:
                            if col.startswith("tessera"):
                                rate = tessera_rate(os.path.join(run, "metrics.jsonl"), warmup, lm, bs)
                            else:
                                s = json.load(open(summary))
                                rate = s["tokens_per_second" if lm else "samples_per_second"]
                        except (OSError, ValueError, KeyError, StopIteration) as e:
                            print(f"  {name} {col}: no figure ({e}); log {log}", file=sys.stderr)
                    else:
                        tail = open(log).read().strip().splitlines()[-3:]
                        print(f"  {name} {col} {th} threads: exit {code}; log {log}: " + " | ".join(tail),
                              file=sys.stderr)
                    results.setdefault((th, name, col), []).append((rate, rss))
                    raw.append((th, name, col, rnd, steps, warmup, rate, rss, wall, l0, l1, code))
                    print(f"  {th} thr {name:16s} {col:14s} round {rnd}: "
                          f"{'-' if rate is None else f'{rate:.0f}'} {unit}, peak RSS {rss:.0f} MiB, "
                          f"{wall:.0f} s, load {l0} -> {l1}", flush=True)
                    if a.out:  # the table so far: an interrupted run still leaves its figures
                        with open(a.out, "w") as f:
                            f.write(report(a, state + ["(partial: the run was still going)"], columns, results, raw))
    state.append(f"load average after: {open('/proc/loadavg').read().strip()}")
    state.append(f"total time: {time.monotonic() - t_start:.0f} s"
                 f"{' (--quick: few steps per cell, indicative only)' if a.quick else ''}")
    md = report(a, state, columns, results, raw)
    print(md)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md)


def median_rate(results, key):
    rates = [r for r, _ in results.get(key, []) if r is not None]
    return statistics.median(rates) if rates else None


def report(a, state, columns, results, raw):
    out = ["## Training speed: Tessera vs PyTorch", "", "```", *state, "```", ""]
    out.append("Throughput after warm-up (median over rounds; higher is better), peak resident memory of the "
               "process in MiB in brackets (the largest over rounds).")
    ratios = [("tessera_fp32", "torch_eager"), ("tessera_fp32", "torch_compile"),
              ("tessera_bf16", "torch_bf16"), ("tessera_bf16", "tessera_fp32")]
    ratios = [(x, y) for x, y in ratios if x in columns and y in columns]
    for th in a.threads.split():
        out += ["", f"### {th} thread{'s' if th != '1' else ''}", ""]
        head = ["workload", "unit"] + [TITLES[c] for c in columns] + [f"{TITLES[x]} / {TITLES[y]}" for x, y in ratios]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, *_rest in WORKLOADS:
            unit = _rest[4]
            if not any((th, name, c) in results for c in columns):
                continue
            cells = []
            for c in columns:
                m = median_rate(results, (th, name, c))
                rss = max((r for _, r in results.get((th, name, c), [])), default=0)
                if (th, name, c) not in results:
                    cells.append("not run")
                else:
                    cells.append("failed" if m is None else f"{m:,.0f} ({rss:,.0f})")
            for x, y in ratios:
                mx, my = median_rate(results, (th, name, x)), median_rate(results, (th, name, y))
                cells.append(f"{mx / my:.2f}x" if mx and my else "")
            out.append("| " + " | ".join([name, unit] + cells) + " |")
    out += ["", "Runs in order:", "", "| threads | workload | column | round | steps (warm-up) | rate | peak RSS MiB "
            "| wall s | load before | load after | exit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for th, name, col, rnd, steps, warm, rate, rss, wall, l0, l1, code in raw:
        out.append(f"| {th} | {name} | {col} | {rnd} | {steps} ({warm}) | {'-' if rate is None else f'{rate:.0f}'} "
                   f"| {rss:.0f} | {wall:.0f} | {l0} | {l1} | {code} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
