#!/usr/bin/env python3
"""Print the acceptance figures of finished `tessera train` runs as a Markdown table.

Usage: python3 bench/training_table.py RUN_DIR[=TARGET] ...
  e.g. python3 bench/training_table.py /tmp/runs/fcnn=0.916 /tmp/runs/mmlp=0.983
Reads RUN_DIR/summary.json (test_accuracy, wall_seconds, samples_per_second,
epochs_completed, stop_reason) and compares test_accuracy with TARGET.
"""
import json
import os
import sys

print("| run | recipe | epochs | stop | test accuracy | target | pass | wall (s) | samples/s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for arg in sys.argv[1:]:
    run, _, target = arg.partition("=")
    with open(os.path.join(run, "summary.json")) as f:
        s = json.load(f)
    acc = s.get("test_accuracy")
    desc = s.get("config", {}).get("description", "")
    t = float(target) if target else None
    ok = "" if t is None or acc is None else ("PASS" if acc >= t else "FAIL")
    print(f"| {run} | {desc[:40]} | {s.get('epochs_completed')} | {s.get('stop_reason')} | "
          f"{100 * acc:.2f}% | {'' if t is None else f'{100 * t:.1f}%'} | {ok} | "
          f"{s.get('wall_seconds', 0):.0f} | {s.get('samples_per_second', 0):.0f} |")
