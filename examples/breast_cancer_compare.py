#!/usr/bin/env python3
"""Breast-cancer diagnosis: Tessera's MLP beside scikit-learn on the SAME splits.

Runs `tessera train --config examples/breast_cancer_mlp.json --seed S` for each
seed, reproduces Tessera's stratified 80/20 split in Python (the same splitmix64
+ Philox4x32-10 Fisher-Yates shuffle as src/data/dataset.cpp, largest-remainder
per-class test counts), checks that reproduction against the standardizer mean
and scale Tessera stored in its checkpoint (fitted on the training rows only),
then fits scikit-learn's MLPClassifier and LogisticRegression on exactly those
training rows and scores them on exactly those test rows.

Usage (Debian: apt install python3-sklearn):
  /usr/bin/python3 examples/breast_cancer_compare.py \
      --tessera build/tessera --out /tmp/bc_compare [--seeds 0 1 2 3 4] [--json results.json]

Reports mean (and std) test accuracy and macro F1 over the seeds for all three.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
K_SPLIT_STREAM = 0x53504C4954000000  # "SPLIT"


def mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def philox4x32(counter, key):
    kM0, kM1 = 0xD2511F53, 0xCD9E8D57
    kW0, kW1 = 0x9E3779B9, 0xBB67AE85
    c0, c1, c2, c3 = counter & M32, (counter >> 32) & M32, 0, 0
    k0, k1 = key & M32, (key >> 32) & M32
    for _ in range(10):
        p0 = kM0 * c0
        p1 = kM1 * c2
        hi0, lo0 = (p0 >> 32) & M32, p0 & M32
        hi1, lo1 = (p1 >> 32) & M32, p1 & M32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + kW0) & M32
        k1 = (k1 + kW1) & M32
    return c0, c1, c2, c3


def seeded_permutation(n, seed, stream):
    p = list(range(n))
    key = mix64((seed ^ mix64(stream)) & M64)
    for i in range(n - 1, 0, -1):
        w = philox4x32(i, key)
        r = (w[0] << 32) | w[1]
        j = r % (i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def split_indices(labels, fraction, seed):
    """Tessera's stratified split_indices: returns (train rows, held-out rows), sorted."""
    n = len(labels)
    n_val = int(math.floor(n * fraction + 0.5))  # llround, n*fraction >= 0
    by_class = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    shares = []
    assigned = 0
    for label in sorted(by_class):
        exact = len(by_class[label]) * fraction
        take = int(math.floor(exact))
        shares.append([label, take, exact - take])
        assigned += take
    order = sorted(range(len(shares)), key=lambda a: -shares[a][2])  # stable: ties keep smaller label first
    for k in order:
        if assigned >= n_val:
            break
        s = shares[k]
        if s[1] < len(by_class[s[0]]):
            s[1] += 1
            assigned += 1
    train, val = [], []
    for label, take, _ in shares:
        members = by_class[label]
        p = seeded_permutation(len(members), seed, K_SPLIT_STREAM + 1 + label)
        for k, pk in enumerate(p):
            (val if k < take else train).append(members[pk])
    return sorted(train), sorted(val)


def load_sklearn_csv(path):
    with open(path) as f:
        meta = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    nfeat = int(meta[1])
    x = np.array([[float(v) for v in r[:nfeat]] for r in rows], dtype=np.float64)
    y = np.array([int(r[nfeat]) for r in rows], dtype=np.int64)
    return x, y, meta[2:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessera", default="build/tessera")
    ap.add_argument("--config", default="examples/breast_cancer_mlp.json")
    ap.add_argument("--data", default="/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv")
    ap.add_argument("--out", default="/tmp/bc_compare")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-train", action="store_true", help="reuse OUT/seed-S runs already there")
    ap.add_argument("--json", help="also write the per-seed and mean figures here")
    args = ap.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    with open(args.config) as f:
        cfg = json.load(f)
    dcfg = cfg["data"]
    assert dcfg.get("kind") == "csv" and dcfg.get("format") == "sklearn", "expects the sklearn-CSV recipe"
    assert dcfg.get("stratify", True), "expects a stratified split"
    test_frac = float(dcfg.get("test_fraction", 0.2))
    assert float(dcfg.get("validation_fraction", 0.0)) == 0.0, "this script reproduces the no-validation split"
    hidden = tuple(cfg["model"].get("hidden", [32]))

    x, y, class_names = load_sklearn_csv(args.data)
    results = []
    for seed in args.seeds:
        run = os.path.join(args.out, f"seed-{seed}")
        if not args.skip_train:
            cmd = [args.tessera, "train", "--config", args.config, "--data", args.data, "--out", run,
                   "--seed", str(seed), "--threads", str(args.threads), "--quiet"]
            subprocess.run(cmd, check=True)
        with open(os.path.join(run, "summary.json")) as f:
            summ = json.load(f)

        train, test = split_indices(y.tolist(), test_frac, seed)
        # Check the reproduced split against what Tessera fitted on its training rows.
        ckpt = summ.get("last_checkpoint") or ""
        with open(os.path.join(ckpt, "config.json")) as f:
            state = json.load(f)["data_state"]
        xf = x.astype(np.float32).astype(np.float64)  # Tessera reads the table as float32
        m, s = xf[train].mean(axis=0), xf[train].std(axis=0)
        dm = np.max(np.abs(m - np.array(state["mean"])) / (np.abs(m) + 1e-12))
        ds = np.max(np.abs(s - np.array(state["scale"])) / (np.abs(s) + 1e-12))
        split_ok = bool(dm < 1e-9 and ds < 1e-9 and len(test) == summ.get("test_samples", len(test)))
        if not split_ok:
            print(f"seed {seed}: WARNING reproduced split does not match Tessera's (mean rel diff {dm:.2e}, "
                  f"scale rel diff {ds:.2e})", file=sys.stderr)

        sc = StandardScaler().fit(x[train])
        xtr, xte = sc.transform(x[train]), sc.transform(x[test])
        ytr, yte = y[train], y[test]
        row = {"seed": seed, "n_train": len(train), "n_test": len(test), "split_matches_tessera": split_ok,
               "tessera_mlp": {"accuracy": summ["test_accuracy"], "macro_f1": summ["test_macro_f1"],
                               "wall_seconds": summ.get("wall_seconds")}}
        models = {
            "sklearn_mlp": MLPClassifier(hidden_layer_sizes=hidden, max_iter=2000, random_state=seed),
            "sklearn_logreg": LogisticRegression(max_iter=5000),
        }
        for name, mdl in models.items():
            mdl.fit(xtr, ytr)
            pred = mdl.predict(xte)
            row[name] = {"accuracy": float(accuracy_score(yte, pred)),
                         "macro_f1": float(f1_score(yte, pred, average="macro"))}
        results.append(row)
        print(f"seed {seed}: split {'matches' if split_ok else 'DIFFERS'}; "
              + "; ".join(f"{k} acc {row[k]['accuracy']:.4f} F1 {row[k]['macro_f1']:.4f}"
                          for k in ("tessera_mlp", "sklearn_mlp", "sklearn_logreg")))

    summary = {}
    for k in ("tessera_mlp", "sklearn_mlp", "sklearn_logreg"):
        a = np.array([r[k]["accuracy"] for r in results])
        f = np.array([r[k]["macro_f1"] for r in results])
        summary[k] = {"mean_accuracy": float(a.mean()), "std_accuracy": float(a.std()),
                      "mean_macro_f1": float(f.mean()), "std_macro_f1": float(f.std())}
    best = max(("sklearn_mlp", "sklearn_logreg"), key=lambda k: summary[k]["mean_accuracy"])
    gap_acc = 100 * (summary[best]["mean_accuracy"] - summary["tessera_mlp"]["mean_accuracy"])
    best_f1 = max(("sklearn_mlp", "sklearn_logreg"), key=lambda k: summary[k]["mean_macro_f1"])
    gap_f1 = 100 * (summary[best_f1]["mean_macro_f1"] - summary["tessera_mlp"]["mean_macro_f1"])
    passed = gap_acc <= 1.0 and gap_f1 <= 1.0
    print()
    print(f"{'model':16s} {'mean acc':>9s} {'std':>7s} {'mean F1':>9s} {'std':>7s}   (seeds {args.seeds})")
    for k, v in summary.items():
        print(f"{k:16s} {100*v['mean_accuracy']:8.2f}% {100*v['std_accuracy']:6.2f} "
              f"{100*v['mean_macro_f1']:8.2f}% {100*v['std_macro_f1']:6.2f}")
    print(f"better sklearn model (accuracy): {best}; Tessera is {gap_acc:+.2f} points behind on accuracy, "
          f"{gap_f1:+.2f} behind on macro F1 vs {best_f1} -> {'PASS' if passed else 'FAIL'} (target: within 1 point)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"per_seed": results, "mean": summary, "best_sklearn": best,
                       "gap_accuracy_points": gap_acc, "gap_macro_f1_points": gap_f1, "pass": passed}, f, indent=2)
    return 0 if all(r["split_matches_tessera"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
