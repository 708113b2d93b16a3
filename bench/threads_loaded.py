#!/usr/bin/env python3
"""Does 2-thread training collapse when another process holds a core? nanoGPT's
shakespeare_char (examples/shakespeare_char.json) pretraining tokens/s after
warm-up, at 2 threads under several OpenMP wait settings and at 1 thread, with
the machine as found and with one extra busy process (`yes`, one core's worth
of load), alternated run by run in rounds.

The settings are environment variables read by libgomp when it loads (it has
no API to change them later): GOMP_SPINCOUNT=N spins N pause-loop iterations
at a barrier before sleeping on a futex (libgomp's own default when neither is
set: 300000, or 1000 when more threads than CPUs); OMP_WAIT_POLICY=passive
sleeps at once; `(tessera default)` leaves both unset, i.e. whatever the
tessera binary does at start-up (src/tools/omp_wait_policy.cpp).

BIN may be a build's tessera or a copy of build/tessera and build/libtessera.so
in one folder (that folder goes first on LD_LIBRARY_PATH), so a build from
before a change can run beside the current one.

Usage: threads_loaded.py --tessera BIN [--steps 150] [--warmup 30] [--rounds 2]
         [--settings "default;GOMP_SPINCOUNT=300000;OMP_WAIT_POLICY=passive"] [--work DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_speed import ROOT, SHARED, tessera_rate  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--settings", default="default;GOMP_SPINCOUNT=300000;GOMP_SPINCOUNT=10000;OMP_WAIT_POLICY=passive")
    ap.add_argument("--loads", default="as found;+1 busy core")
    ap.add_argument("--work", default="/tmp/tessera_threads_loaded")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    data = os.path.join(a.work, "shakespeare_char")
    if not os.path.exists(os.path.join(data, "meta.json")):
        subprocess.run([a.tessera, "data", "prepare", "--train-tokenizer", "char", "--split", "contiguous",
                        "--val-fraction", "0.1", "--input", os.path.join(SHARED, "tinyshakespeare", "input.txt"),
                        "--out", data, "-q"], check=True)
    r = json.load(open(os.path.join(ROOT, "examples", "shakespeare_char.json")))
    r["train"].update(log_every=a.warmup, eval_batches=1)
    recipe = os.path.join(a.work, "recipe.json")
    json.dump(r, open(recipe, "w"))
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    # A copied build (a folder holding tessera and libtessera.so) runs its own library.
    lib = os.path.dirname(os.path.abspath(a.tessera))
    base["LD_LIBRARY_PATH"] = lib + (":" + base["LD_LIBRARY_PATH"] if base.get("LD_LIBRARY_PATH") else "")
    cells = [(s, "2") for s in a.settings.split(";")] + [("default", "1")]
    results, rows = {}, []
    for rnd in range(1, a.rounds + 1):
        for load in a.loads.split(";"):
            busy = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if load.startswith("+") else None
            try:
                for setting, th in cells:
                    env = dict(base)
                    if setting != "default":
                        k, v = setting.split("=")
                        env[k] = v
                    run = os.path.join(a.work, "run")
                    shutil.rmtree(run, ignore_errors=True)
                    l0 = open("/proc/loadavg").read().split()[0]
                    subprocess.run([a.tessera, "pretrain", "--config", recipe, "--data", data, "--out", run,
                                    "--steps", str(a.steps), "--threads", th, "--eval-every", "0", "-q"],
                                   env=env, check=True, stdout=subprocess.DEVNULL)
                    rate = tessera_rate(os.path.join(run, "metrics.jsonl"), a.warmup, True, 0)
                    results.setdefault((load, setting, th), []).append(rate)
                    rows.append((rnd, load, setting, th, rate, l0))
                    print(f"round {rnd} | {load} | {setting} | {th} threads | {rate:.0f} tokens/s | load {l0}",
                          flush=True)
            finally:
                if busy:
                    busy.kill()
                    busy.wait()
    print(f"\n{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; {a.tessera}; {a.steps} steps "
          f"({a.warmup} warm-up) of 12 x 64 tokens; median tokens/s over {a.rounds} round(s)\n")
    loads = a.loads.split(";")
    print("| setting | threads | " + " | ".join(loads) + " |")
    print("|---|---|" + "---|" * len(loads))
    for setting, th in cells:
        name = "(tessera default)" if setting == "default" else setting
        print(f"| {name} | {th} | " + " | ".join(
            f"{statistics.median(results[(l, setting, th)]):,.0f}" for l in loads) + " |")


if __name__ == "__main__":
    main()
