#!/usr/bin/python3
"""Golden values from scikit-learn for the metrics parity test.

Draws random prediction sets with a fixed seed (binary and multi-class, classes
never predicted / never present / absent everywhere, explicit and subset
`labels=`, F-beta, top-k scores, regression targets including constant ones)
and writes their inputs and sklearn's outputs to one JSON file:
accuracy_score, precision_recall_fscore_support (average None, binary, micro,
macro, weighted; zero_division 0 and 1), confusion_matrix (every normalize),
classification_report (digits=4), top_k_accuracy_score, mean_squared_error,
mean_absolute_error and r2_score. tests/metrics/test_metrics_parity.cpp
replays them (env TESSERA_METRICS_GOLDEN=<this output>).

Run with Debian's scikit-learn (python3-sklearn):
  /usr/bin/python3 tests/metrics/gen_metrics_golden.py --out build/metrics/golden.json
"""
import argparse
import json
import math
import os
import tempfile
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix, mean_absolute_error,
                             mean_squared_error, precision_recall_fscore_support, r2_score, top_k_accuracy_score)
from sklearn.utils.multiclass import unique_labels

SEED = 20240611


def noisy_predictions(rng, y_true, num_classes, p_correct, pred_classes=None):
    """y_pred equal to y_true with probability p_correct, else a random class
    from pred_classes (default: all)."""
    pool = np.arange(num_classes) if pred_classes is None else np.asarray(pred_classes)
    wrong = rng.choice(pool, size=len(y_true))
    keep = rng.random(len(y_true)) < p_correct
    if pred_classes is not None:
        keep &= np.isin(y_true, pool)
    return np.where(keep, y_true, wrong)


def scored(rng, y_true, num_classes, margin):
    """Continuous scores (no ties) favouring the true class; y_pred is their argmax."""
    scores = rng.normal(size=(len(y_true), num_classes))
    scores[np.arange(len(y_true)), y_true] += margin
    return scores, scores.argmax(axis=1)


def classification_cases(rng):
    cases = []

    def add(name, num_classes, y_true, y_pred, labels=None, scores=None, betas=(1.0,), binary_pos=()):
        cases.append(dict(name=name, num_classes=num_classes, y_true=np.asarray(y_true, dtype=np.int64),
                          y_pred=np.asarray(y_pred, dtype=np.int64), labels=labels, scores=scores,
                          betas=betas, binary_pos=binary_pos))

    y = rng.integers(0, 10, 500)
    s, p = scored(rng, y, 10, 1.5)
    add("multi10_scores", 10, y, p, scores=s, betas=(1.0, 0.5, 2.0))
    add("multi10_all_labels", 10, y, p, labels=list(range(10)))

    y = rng.integers(0, 3, 240)
    s, p = scored(rng, y, 3, 0.8)
    add("multi3_scores", 3, y, p, scores=s)

    y = rng.integers(0, 100, 2000)
    s, p = scored(rng, y, 100, 2.5)
    add("multi100_scores", 100, y, p, scores=s)

    y = rng.integers(0, 6, 300)
    add("never_predicted", 6, y, noisy_predictions(rng, y, 6, 0.5, pred_classes=[0, 1, 2, 3]))
    add("never_predicted_all_labels", 6, y, cases[-1]["y_pred"], labels=list(range(6)))

    y = rng.choice([0, 1, 3, 4, 5], 300)
    p = noisy_predictions(rng, y, 6, 0.5)
    add("never_present", 6, y, p)
    add("never_present_zero_div", 6, y, p, labels=list(range(6)), betas=(1.0, 2.0))

    y = rng.integers(0, 7, 150)
    p = noisy_predictions(rng, y, 7, 0.4)
    add("absent_everywhere", 8, y, p, labels=list(range(8)))
    add("absent_everywhere_default", 8, y, p)
    add("labels_subset_unordered", 8, y, p, labels=[5, 1, 3])
    add("labels_only_absent_class", 8, y, p, labels=[7])

    y = rng.integers(0, 3, 120)
    p = rng.integers(0, 5, 120)
    add("labels_not_in_true", 5, y, p, labels=[3, 4])
    add("labels_mixed", 5, y, p, labels=[4, 0, 2])

    y = rng.integers(0, 2, 200)
    p = noisy_predictions(rng, y, 2, 0.7)
    add("binary", 2, y, p, binary_pos=(1, 0), betas=(1.0, 0.5))
    y = rng.choice([2, 4], 80)
    add("binary_ids_2_4", 6, y, noisy_predictions(rng, y, 6, 0.6, pred_classes=[2, 4]), binary_pos=(4, 2))
    add("binary_only_negatives", 2, np.zeros(40, np.int64), np.zeros(40, np.int64), binary_pos=(1,))
    y = np.zeros(30, np.int64)
    add("binary_all_wrong", 2, y, np.ones(30, np.int64), binary_pos=(1, 0))

    y = rng.integers(0, 5, 60)
    add("perfect", 5, y, y.copy())
    add("single_sample", 4, [2], [1])
    add("single_sample_right", 4, [3], [3], labels=[0, 1, 2, 3])
    add("three_samples", 3, [0, 1, 2], [0, 2, 1])
    return cases


def prfs_json(y_true, y_pred, labels, zd, beta, average, pos_label=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=zd, beta=beta,
                                                     average=average, pos_label=pos_label)
        if zd == 0:  # "warn" (sklearn's default) must behave as 0
            w = precision_recall_fscore_support(y_true, y_pred, labels=labels, beta=beta, average=average,
                                                pos_label=pos_label)
            assert all(np.array_equal(a, b) for a, b in zip((p, r, f), w[:3]))
    if average is None:
        return dict(precision=p.tolist(), recall=r.tolist(), fscore=f.tolist(), support=s.tolist())
    return dict(precision=float(p), recall=float(r), fscore=float(f))


def golden_classification(c):
    y_true, y_pred, labels = c["y_true"], c["y_pred"], c["labels"]
    out = dict(name=c["name"], num_classes=c["num_classes"], y_true=y_true.tolist(), y_pred=y_pred.tolist(),
               labels=labels, accuracy=float(accuracy_score(y_true, y_pred)))
    used = labels if labels is not None else unique_labels(y_true, y_pred).tolist()
    out["resolved_labels"] = used
    out["scores_sets"] = []
    for beta in c["betas"]:
        for zd in (0, 1):
            entry = dict(beta=beta, zero_division=zd, averages={})
            entry["per_class"] = prfs_json(y_true, y_pred, labels, zd, beta, None)
            for avg in ("micro", "macro", "weighted"):
                entry["averages"][avg] = prfs_json(y_true, y_pred, labels, zd, beta, avg)
            entry["binary"] = [dict(pos_label=pl, **prfs_json(y_true, y_pred, labels, zd, beta, "binary", pl))
                               for pl in c["binary_pos"]]
            if beta == 1.0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UndefinedMetricWarning)
                    entry["report"] = classification_report(y_true, y_pred, labels=labels, digits=4,
                                                            zero_division=zd)
            out["scores_sets"].append(entry)
    try:
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        out["confusion"] = dict(counts=cm.tolist())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for norm in ("true", "pred", "all"):
                out["confusion"][norm] = confusion_matrix(y_true, y_pred, labels=labels, normalize=norm).tolist()
    except ValueError as e:  # sklearn refuses labels none of which occurs in y_true; we do not
        out["confusion"] = None
        out["confusion_skipped"] = str(e)
    if c["scores"] is not None:
        scores = c["scores"]
        out["scores"] = scores.tolist()
        C = c["num_classes"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            out["top_k"] = {str(k): float(top_k_accuracy_score(y_true, scores, k=k, labels=list(range(C))))
                            for k in sorted({1, 2, 3, 5, C - 1, C}) if 1 <= k <= C}
    return out


def regression_cases(rng):
    cases = []

    def add(name, y_true, y_pred):
        cases.append(dict(name=name, y_true=np.asarray(y_true, float), y_pred=np.asarray(y_pred, float)))

    y = rng.normal(size=1000)
    add("normal", y, y + 0.3 * rng.normal(size=1000))
    y = rng.normal(loc=50.0, scale=2.0, size=5000)
    add("offset_large_n", y, y + rng.normal(scale=1.5, size=5000))
    y = rng.uniform(-3, 3, size=200)
    add("anti_correlated", y, -y + rng.normal(scale=0.1, size=200))
    add("perfect", y, y.copy())
    add("constant_target_missed", np.full(50, 3.0), 3.0 + rng.normal(scale=0.2, size=50))
    add("constant_target_hit", np.full(50, -2.5), np.full(50, -2.5))
    add("two_samples", [1.0, 2.0], [1.5, 1.5])
    add("one_sample", [4.0], [3.0])
    return cases


def golden_regression(c):
    y_true, y_pred = c["y_true"], c["y_pred"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        r2 = float(r2_score(y_true, y_pred))
    return dict(name=c["name"], y_true=y_true.tolist(), y_pred=y_pred.tolist(),
                mse=float(mean_squared_error(y_true, y_pred)), mae=float(mean_absolute_error(y_true, y_pred)),
                r2=None if math.isnan(r2) else r2)  # JSON has no NaN: null means NaN


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output JSON file")
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)
    golden = dict(sklearn_version=sklearn.__version__, numpy_version=np.__version__, seed=SEED,
                  classification=[golden_classification(c) for c in classification_cases(rng)],
                  regression=[golden_regression(c) for c in regression_cases(rng)])
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(golden, f, allow_nan=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.out)
    print(f"gen_metrics_golden: {len(golden['classification'])} classification and "
          f"{len(golden['regression'])} regression cases (sklearn {sklearn.__version__}) -> {args.out}")


if __name__ == "__main__":
    main()
