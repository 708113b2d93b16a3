"""Helpers shared by the CLI acceptance scripts (tests/train/test_finetune_cli.py,
tests/quant/test_quantized_quality.py): a check that records failures and
keeps going, and running a `tessera` command with its output captured."""
import subprocess

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def run(cli, *args, expect_ok=True):
    p = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        print(p.stdout[-3000:], p.stderr[-3000:])
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(map(str, args))}")
    return p
