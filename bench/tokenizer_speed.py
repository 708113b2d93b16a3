#!/usr/bin/env python3
"""GPT-2 encoding speed of tiktoken and Hugging Face `tokenizers` on a text file
(bench/tokenizer_compare.sh puts it beside `tessera tokenizer bench`).

1 thread: tiktoken Encoding.encode_ordinary(text) and HF Tokenizer.encode(text)
on the whole text. N > 1 threads: the text is cut into ~64 KB chunks after a
lone newline (where the ids do not change) and encoded with tiktoken encode_ordinary_batch(chunks, num_threads=N)
and HF encode_batch(chunks) on a rayon pool of N threads (RAYON_NUM_THREADS,
set before tokenizers is imported). The text is repeated --repeat times; each
of --runs runs is timed; best and median MB/s are printed as JSON.

  python bench/tokenizer_speed.py --lib tiktoken --gpt2-dir ../shared/data/gpt2-tokenizer \
      --input ../shared/data/tinyshakespeare/input.txt --threads 2
  python bench/tokenizer_speed.py --lib hf --tokenizer-json gpt2.json --input ... --threads 2
(gpt2.json: `tessera tokenizer convert --tokenizer ../shared/data/gpt2-tokenizer --out gpt2.json`)
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def chunks_of(text, size=1 << 16):
    """~size-character chunks cut after a lone newline between non-space
    characters, where GPT-2's pattern gives the same pieces as on the whole text
    (the rule of Tessera's bpe_safe_split)."""
    out, start = [], 0
    while start < len(text):
        cut = text.find("\n", start + size)
        while 0 <= cut and not (0 < cut < len(text) - 1 and not text[cut - 1].isspace() and
                                not text[cut + 1].isspace()):
            cut = text.find("\n", cut + 1)
        cut = len(text) if cut < 0 else cut + 1
        out.append(text[start:cut])
        start = cut
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", choices=["tiktoken", "hf"], required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--gpt2-dir", help="GPT-2 encoder.json + vocab.bpe (tiktoken)")
    ap.add_argument("--tokenizer-json", help="GPT-2 tokenizer.json (HF)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ["RAYON_RS_NUM_CPUS"] = str(args.threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if args.threads > 1 else "false"
    with open(args.input, encoding="utf-8") as f:
        text = f.read() * args.repeat
    nbytes = len(text.encode("utf-8"))
    chunks = chunks_of(text)
    if args.lib == "tiktoken":
        spec = importlib.util.spec_from_file_location("golden", os.path.join(HERE, "..", "tests", "text",
                                                                             "gen_tokenizer_golden.py"))
        golden = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(golden)
        enc = golden.gpt2_encoding(args.gpt2_dir)
        if args.threads == 1:
            run = lambda: len(enc.encode_ordinary(text))
        else:
            run = lambda: sum(len(x) for x in enc.encode_ordinary_batch(chunks, num_threads=args.threads))
        version = golden.tiktoken.__version__
    else:
        import tokenizers
        tok = tokenizers.Tokenizer.from_file(args.tokenizer_json)
        if args.threads == 1:
            run = lambda: len(tok.encode(text).ids)
        else:
            run = lambda: sum(len(e.ids) for e in tok.encode_batch(chunks))
        version = tokenizers.__version__
    speeds, tokens = [], 0
    for _ in range(args.runs):
        t0 = time.perf_counter()
        tokens = run()
        speeds.append(nbytes / 1e6 / (time.perf_counter() - t0))
    print(json.dumps({"lib": args.lib, "version": version, "bytes": nbytes, "tokens": tokens,
                      "threads": args.threads, "runs": args.runs, "best_mb_s": max(speeds),
                      "median_mb_s": statistics.median(speeds)}))


if __name__ == "__main__":
    sys.exit(main())
