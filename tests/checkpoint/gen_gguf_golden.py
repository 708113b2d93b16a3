#!/usr/bin/env python3
"""llama.cpp's logits for the GGUF files the C++ test compares against.

Runs llama.cpp (through llama-cpp-python, which builds it from source) on
  - the staged tiny llama (../shared/data/models/llama-2-tiny-random, F16), and
  - the files Tessera's export_gguf writes from small deterministic GPTs
    (gpt2 and llama architectures, F32 / Q8_0 / Q4_0), which this script gets by
    running `tessera_tests --gtest_filter=GgufGolden.WriteExports`,
for a fixed token sequence, and writes tests/fixtures/gguf/llama_cpp_logits.json:
per file its FNV-1a hash, the tokens, llama.cpp's logits at a few sampled vocabulary
ids for every position, the log-sum-exp and greedy token of every position, and,
for the exports, llama.cpp's tokenization of a sentence (checks the exported vocab).

Usage (from the repository root, after building tessera_tests):
  /work/venv-torch/bin/python tests/checkpoint/gen_gguf_golden.py \
      --tests-bin build/tests/tessera_tests [--shared ../shared/data]
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
from llama_cpp import Llama, __version__ as llama_cpp_version

TINY = "llama-2-tiny-random/llama-2-tiny-random.gguf"
CASES = [("gpt2", "f32"), ("gpt2", "q8_0"), ("gpt2", "q4_0"), ("llama", "f32"), ("llama", "q8_0"), ("llama", "q4_0")]
TEXT = "the thing in the garden, and then another one"
N_SAMPLED = 40


def fnv1a64(path):
    h = 1469598103934665603
    with open(path, "rb") as f:
        for b in f.read():
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def run(path, tokens):
    # A float32 KV cache (type 0): llama.cpp's default fp16 one would round K and V.
    llm = Llama(model_path=path, n_ctx=32, n_batch=32, n_threads=1, logits_all=True, verbose=False, type_k=0, type_v=0)
    llm.eval(tokens)
    scores = np.array(llm.scores[: len(tokens)], dtype=np.float64)  # (T, V)
    return llm, scores


def record(name, path, tokens, weights, extra):
    llm, s = run(path, tokens)
    V = s.shape[1]
    ids = sorted({int(i * V / N_SAMPLED) for i in range(N_SAMPLED)} | {V - 1})
    top2 = np.sort(s, axis=1)[:, -2:]
    m = s.max(axis=1)
    out = {
        "name": name,
        "weights": weights,
        "fnv1a64": fnv1a64(path),
        "tokens": tokens,
        "sample_ids": ids,
        "logits": [[round(float(s[t, i]), 6) for i in ids] for t in range(len(tokens))],
        "logsumexp": [round(float(m[t] + np.log(np.exp(s[t] - m[t]).sum())), 6) for t in range(len(tokens))],
        "argmax": [int(a) for a in s.argmax(axis=1)],
        "top2_margin": [round(float(b - a), 6) for a, b in top2],
        "max_abs_logit": round(float(np.abs(s).max()), 6),
    }
    out.update(extra)
    if "arch" in extra:
        out["text"] = TEXT
        out["text_ids"] = llm.tokenize(TEXT.encode(), add_bos=False, special=False)
    print("%-22s V=%d max|logit|=%.3f" % (name, V, out["max_abs_logit"]))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests-bin", required=True)
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures", "gguf", "llama_cpp_logits.json"))
    a = ap.parse_args()
    models = []
    tiny = os.path.join(a.shared, "models", TINY)
    models.append(record("llama-2-tiny-random", tiny, [1, 450, 4996, 17354, 1701, 29916, 432, 17204, 29889, 13], "f16",
                         {"shared": TINY}))
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, TESSERA_GGUF_EXPORT_DIR=d)
        subprocess.run([a.tests_bin, "--gtest_filter=GgufGolden.WriteExports"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        tokens = [266, 84, 104, 105, 258, 32, 119, 97, 115, 262, 100, 257, 46, 10, 270]
        for arch, dtype in CASES:
            path = os.path.join(d, "%s-%s.gguf" % (arch, dtype))
            models.append(record("%s-%s" % (arch, dtype), path, tokens, dtype, {"arch": arch, "dtype": dtype}))
    with open(a.out, "w") as f:
        json.dump({"generator": "tests/checkpoint/gen_gguf_golden.py",
                   "llama_cpp_python": llama_cpp_version, "models": models}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
