#!/usr/bin/env python3
"""`tessera serve` throughput and latency, with continuous batching and without.

The model: a GPT-2-shaped 6-layer, 384-wide GPT (6 heads, context 256, the
GPT-2 tokenizer: 50,257 ids, ~30M parameters) pretrained for a few steps on
Tiny Shakespeare (`tessera data prepare --tokenizer ../shared/data/gpt2-tokenizer
--split contiguous`, then `tessera pretrain`); the contiguous split has no
<|endoftext|>, so completions run to max_tokens and every request generates
the same number of tokens. Quality is irrelevant here; the shape sets the cost.

For each server setting (--max-batch 32 and --max-batch 1) one server runs;
for each concurrency C (default 1, 8, 32) C client threads send streamed
completion requests (a fixed prompt, max_tokens fixed, temperature 0.8, their
own seeds) until max(--min-requests, --requests-per-client x C) are done.
--rounds N repeats the server settings in alternation and reports medians. Figures per cell: requests/s and
generated tokens/s over the cell's wall time, p50/p99 request latency, p50/p99
time to first token (the first streamed chunk with text). One warm-up request
per server is not counted. Printed as a markdown table; --json also writes them.

Usage: serve_bench.py --tessera build/tessera [--work DIR] [--concurrency 1 8 32]
                      [--max-tokens 32] [--requests-per-client 3] [--min-requests 8]
"""
import argparse
import json
import os
import platform
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "serve"))
import serve_util as su  # noqa: E402
import load_client as lc  # noqa: E402

MODEL_NAME = "gpt-6x384"
CONFIG = {
    "description": "serve bench model: 6 layers, 384 wide, GPT-2 tokenizer, a few steps (bench/serve_bench.py)",
    "task": "language_model",
    "model": {"block_size": 256, "n_layer": 6, "n_head": 6, "n_embd": 384, "dropout": 0.0, "bias": True},
    "optimizer": {"type": "adamw", "lr": 1e-3, "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": 1e-8},
    "schedule": {"type": "cosine", "warmup_steps": 2, "min_lr": 1e-4},
    "train": {"steps": 8, "batch_size": 4, "grad_accum": 1, "clip_grad_norm": 1.0, "eval_every": 8,
              "eval_batches": 1, "log_every": 4, "seed": 1337, "threads": 2, "checkpoint": {"keep_last": 1}},
}
PROMPT = "First Citizen:\nBefore we proceed any further, hear me speak."


def build_model(cli, work, shared):
    run_dir = os.path.join(work, "model")
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        return run_dir
    data = os.path.join(work, "data")
    if not os.path.exists(os.path.join(data, "meta.json")):
        su.run_cli(cli, ["data", "prepare", "--tokenizer", os.path.join(shared, "gpt2-tokenizer"), "--split",
                         "contiguous", "--val-fraction", "0.1", "--input",
                         os.path.join(shared, "tinyshakespeare", "input.txt"), "--out", data, "--quiet"])
    cfg = os.path.join(work, "gpt_6x384.json")
    with open(cfg, "w") as f:
        json.dump(CONFIG, f, indent=1)
    t0 = time.monotonic()
    su.run_cli(cli, ["pretrain", "--config", cfg, "--data", data, "--out", run_dir, "--quiet"], timeout=1800)
    print("model trained in %.0f s" % (time.monotonic() - t0), file=sys.stderr)
    return run_dir


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def run_cell(server, key, concurrency, n_requests, max_tokens, seed0):
    lock = threading.Lock()
    issued = [0]
    outcomes = []

    def worker(i):
        while True:
            with lock:
                if issued[0] >= n_requests:
                    return
                issued[0] += 1
                n = issued[0]
            body = lc.request_body(MODEL_NAME, chat=False, prompt=PROMPT, max_tokens=max_tokens, stream=True,
                                   include_usage=True, temperature=0.8, seed=seed0 + n)
            o = lc.send("127.0.0.1", server.port, key, body)
            with lock:
                outcomes.append(o)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    bad = [o for o in outcomes if o.kind != "ok"]
    su.check(not bad, "%d requests failed; first: %s %d %s" % (len(bad), bad[0].kind, bad[0].status, bad[0].detail)
             if bad else "")
    gen = sum(o.usage["completion_tokens"] for o in outcomes)
    return {"concurrency": concurrency, "requests": len(outcomes), "wall_s": wall,
            "req_per_s": len(outcomes) / wall, "gen_tok_per_s": gen / wall,
            "tokens_per_request": gen / len(outcomes), "prompt_tokens": outcomes[0].usage["prompt_tokens"],
            "p50_latency_s": pct([o.t_end - o.t_start for o in outcomes], 0.5),
            "p99_latency_s": pct([o.t_end - o.t_start for o in outcomes], 0.99),
            "p50_ttft_s": pct([o.t_first - o.t_start for o in outcomes], 0.5),
            "p99_ttft_s": pct([o.t_first - o.t_start for o in outcomes], 0.99)}


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--work", default="/tmp/tessera_serve_bench", help="model, data and ledger (reused)")
    ap.add_argument("--shared-data", default=su.DEFAULT_SHARED)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--max-batch", type=int, nargs="+", default=[32, 1])
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--requests-per-client", type=int, default=3)
    ap.add_argument("--min-requests", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="server compute threads (0: all cores)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the servers in alternation (A B A B); the table shows medians over rounds")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    try:
        checkpoint = build_model(a.tessera, a.work, a.shared_data)
        db = os.path.join(a.work, "bench.db")
        if os.path.exists(db):
            os.remove(db)
        su.set_plan(a.tessera, db, "unlimited")
        su.set_price(a.tessera, db, MODEL_NAME, 100_000, 200_000)
        key = su.create_key(a.tessera, db, "bench", "unlimited", "bench")
        cells = []
        for rnd, mb in [(r, mb) for r in range(a.rounds) for mb in a.max_batch]:
            extra = ["--threads", a.threads] if a.threads else []
            server = su.Server(a.tessera, checkpoint, db, a.work, model_name=MODEL_NAME, instance="bench",
                               max_batch=mb, extra=extra, log_name="bench_server_mb%d.log" % mb)
            try:
                run_cell(server, key, 1, 1, a.max_tokens, 10**6)  # warm-up
                for c in a.concurrency:
                    n = max(a.min_requests, a.requests_per_client * c)
                    load0 = loadavg()
                    cell = run_cell(server, key, c, n, a.max_tokens, 1000 * c)
                    cell.update(max_batch=mb, round=rnd, loadavg_before=load0, loadavg_after=loadavg())
                    cells.append(cell)
                    print("max_batch %d, %d clients: %.2f req/s, %.1f tok/s, p50 %.2f s, ttft p50 %.2f s (load %s)" %
                          (mb, c, cell["req_per_s"], cell["gen_tok_per_s"], cell["p50_latency_s"],
                           cell["p50_ttft_s"], cell["loadavg_after"]), file=sys.stderr, flush=True)
            finally:
                server.stop()
    except su.Failure as e:
        su.die(str(e))
    print("model: %s (6 layers, 384 wide, GPT-2 tokenizer); %d-token prompt text %r, max_tokens %d, streamed; "
          "host: %s, %d CPUs" % (MODEL_NAME, cells[0]["prompt_tokens"], PROMPT[:20] + "...", a.max_tokens, platform.node(), os.cpu_count()))
    print()
    print("| --max-batch | clients | requests | req/s | generated tok/s | p50 latency s | p99 latency s | "
          "p50 TTFT s | p99 TTFT s |")
    print("|---|---|---|---|---|---|---|---|---|")
    # With several rounds (servers alternating A B A B): the median of each figure over rounds,
    # and the lowest-highest tokens/s.
    for mb in a.max_batch:
        for conc in a.concurrency:
            cs = [c for c in cells if c["max_batch"] == mb and c["concurrency"] == conc]
            med = {k: pct([c[k] for c in cs], 0.5) for k in cs[0] if isinstance(cs[0][k], float)}
            spread = "" if len(cs) == 1 else " (%.0f-%.0f)" % (min(c["gen_tok_per_s"] for c in cs),
                                                                max(c["gen_tok_per_s"] for c in cs))
            print("| %d | %d | %d | %.2f | %.1f%s | %.2f | %.2f | %.2f | %.2f |" %
                  (mb, conc, sum(c["requests"] for c in cs), med["req_per_s"], med["gen_tok_per_s"], spread,
                   med["p50_latency_s"], med["p99_latency_s"], med["p50_ttft_s"], med["p99_ttft_s"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(cells, f, indent=1)


if __name__ == "__main__":
    main()
