#!/usr/bin/env python3
"""Golden token ids for the tokenizer parity tests (tests/text/test_tokenizer_gpt2.cpp,
TokenizerGolden.*, env TESSERA_TOKENIZER_GOLDEN=<this output>).

1. "tiktoken": GPT-2 ids from tiktoken for the start of tinyshakespeare
   (in 2,000-byte chunks) plus tricky strings (unicode, emoji, CJK, numbers,
   contractions, whitespace runs, tabs, "<|endoftext|>" inside text, with and
   without special-token handling). The Encoding is built offline from
   shared/data/gpt2-tokenizer/{encoder.json,vocab.bpe}: mergeable ranks are the
   encoder.json ids of each token's bytes (through GPT-2's byte decoder).
   "whole": the whole of tinyshakespeare encoded in one call (338,025 ids,
   int32 little-endian in tokenizer_golden_shakespeare.bin next to the output).
   "mixed": a ~100 KB mixed corpus (CJK, emoji with ZWJ and skin tones, code in
   several languages with tabs, whitespace runs, numbers, contractions,
   accented Latin, Arabic, Hebrew) drawn from FRAGMENTS with a fixed seed,
   encoded in one call.
2. With --tessera <the tessera binary> (and HF `tokenizers` installed):
   a. "hf_trained": `tessera tokenizer train` writes a 1,000-token BPE next to
      the output; HF Tokenizer.from_file loads it and its ids for samples are
      recorded (the C++ test loads the same file and must agree).
   b. `tessera tokenizer convert` saves GPT-2 as tokenizer.json; HF loads it and
      must give tiktoken's ids on every case above (checked here: exit 1 if not).
   c. "hf_train": for each --train-vocab size, HF's byte-level BPE trainer and
      `tessera tokenizer train` on the whole of tinyshakespeare (same vocabulary
      size, "<|endoftext|>" special, min_frequency 2); HF's token counts of the
      corpus and of a held-out text (fortune files, when installed) are
      recorded with our file's path. TokenizerGolden.TrainedBpeCompressesLikeHf
      asserts our counts are within 1% of HF's.

Needs a Python with tiktoken (and tokenizers for 2.), e.g. PyPI packages in a venv:
  python tests/text/gen_tokenizer_golden.py --out build/text/tokenizer_golden.json \
      --tessera build/tessera
"""
import argparse
import array
import json
import random
import os
import subprocess
import sys
import tempfile

try:
    import tiktoken
except ImportError:
    sys.exit("gen_tokenizer_golden.py: this Python has no tiktoken (pip install tiktoken tokenizers)")

PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
HERE = os.path.dirname(os.path.abspath(__file__))

TRICKY = [
    "Hello world", " Hello world", "Hello  world", "   leading spaces", "trailing spaces   ",
    "\n\n\n", "\n\n\nHello", "a\n\n\nb", "\t\ttabs\tand\t\ttabs", " \t \n mixed \r\n whitespace \u3000 ideographic",
    "It's I'm you're we've they'll he'd don't 'quoted' ''s 'S 'LL", "CAPS IT'S YOU'RE",
    "numbers 1234567890 3.14159 1,000,000 -42 ٣٤ ½ ² Ⅻ", "x1y2z3 4u",
    "naïve café résumé Über straße", "Привет мир, как дела?", "Γειά σου Κόσμε",
    "東京タワーは日本の電波塔です。中文測試，標點！", "한국어 텍스트 테스트", "ภาษาไทย", "مرحبا بالعالم",
    "emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇯🇵 ❤️", "symbols !!! ??? ... --- === +++ @@@ ### $$$ %%% ^^^ &&& *** ((( )))",
    "code: for (int i = 0; i < n; ++i) { x[i] += y[i] * 2; }  // comment",
    "<|endoftext|>", "before<|endoftext|>after", "a <|endoftext|> b<|endoftext|><|endoftext|>c",
    "<|endoftext", "<|endoftext|>\n\nFirst Citizen:", "zero\u200bwidth\u00a0nbsp", "\u2028line\u2029para",
    "combining e\u0301 a\u0308 \u0915\u094d\u0937", "math ∑∫√∞≠≤ 𝔸𝔹ℂ 𝟘𝟙𝟚",
    "controls \x1c\x1d\x1e\x1f \x0b\x0c \x85 end", "nul\x00byte \x7f del",
    "x" * 300, " " * 50 + "y", "ab" * 200, "1" * 100, "!" * 64 + "a",
]

# Pieces of the mixed corpus; whitespace runs between them are random too.
FRAGMENTS = [
    "我们今天去北京的故宫参观，然后吃烤鸭。", "这是一个测试：中文、标点符号（全角）和数字１２３。",
    "東京都渋谷区でラーメンを食べました。とても美味しかったです！", "カタカナとひらがなと漢字が混ざった文章。",
    "👨‍👩‍👧‍👦 family", "👍🏻👍🏼👍🏽👍🏾👍🏿", "🏳️‍🌈 flag", "❤️‍🔥 love", "🧑🏽‍💻 coder", "😀😂🤣🥲", "🇩🇪🇫🇷🇯🇵",
    "def f(x):\n\tif x > 0:\n\t\treturn x ** 2\n\treturn -x\n",
    "int main(void) {\n    printf(\"%d\\n\", 42);\n    return 0;\n}\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|i| i * i).collect();\n    println!(\"{:?}\", v);\n}\n",
    "const add = (a, b) => a + b; // arrow\nconsole.log(`sum=${add(1, 2)}`);\n",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "<div class=\"x\">&nbsp;</div>", "#include <vector>\ntemplate <typename T> T max(T a, T b);",
    "    indented\tline\t\twith\ttabs", "x = [1, 2, 3]\r\ny = {'a': 1}\r\n",
    "3.14159 2.71828 1,234,567 -0.001 1e-9 0xFF 1_000_000 2024-01-31 12:34:56",
    "I'm sure you're right, we'll see what they've done; it's John's and he'd said 'no'.",
    "DON'T SHOUT, IT'S LOUD", "café naïve résumé façade coöperate Ångström Øre Łódź İstanbul",
    "Straße Größe Übermaß", "مرحبا بكم في العالم العربي، كيف حالك؟ ١٢٣", "שלום עולם, מה שלומך? 456",
    "Здравствуй, мир! Ёлка", "Καλημέρα κόσμε", "हिन्दी पाठ", "한국어 문장입니다.",
    "   ", "\t\t", "\n\n\n", " \n \n", "\u3000", "\u00a0", "!!!???...", "---===+++", "$$$ 100%",
]


def mixed_corpus(nbytes=100_000, seed=7):
    rng = random.Random(seed)
    ws = [" ", "  ", "\n", "\n\n", "\t", " \t ", "\n    ", "\n\t", "    ", "\r\n", " \n\n  ", ""]
    parts, size = [], 0
    while size < nbytes:
        p = rng.choice(FRAGMENTS) + rng.choice(ws)
        parts.append(p)
        size += len(p.encode("utf-8"))
    return "".join(parts)


def gpt2_encoding(gpt2_dir):
    with open(os.path.join(gpt2_dir, "encoder.json"), encoding="utf-8") as f:
        encoder = json.load(f)
    # GPT-2's bytes_to_unicode, inverted.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_decoder = {chr(c): b for b, c in zip(bs, cs)}
    ranks = {bytes(byte_decoder[ch] for ch in tok): i for tok, i in encoder.items() if tok != "<|endoftext|>"}
    return tiktoken.Encoding("gpt2_offline", pat_str=PAT, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256})


def train_compare(args, shakespeare, outdir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    corpus = os.path.abspath(os.path.join(args.shared_data, "tinyshakespeare", "input.txt"))
    heldout_files = [p for p in args.heldout if os.path.isfile(p)]
    heldout = ""
    for p in heldout_files:
        with open(p, encoding="utf-8", errors="replace") as f:
            heldout += f.read()
    heldout_file = os.path.join(outdir, "tokenizer_golden_heldout.txt")
    with open(heldout_file, "w", encoding="utf-8") as f:
        f.write(heldout)
    runs = []
    for v in args.train_vocab:
        hf = Tokenizer(models.BPE())
        # use_regex=True (the default) is GPT-2's pattern, as in our pre-tokenizer.
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=v, min_frequency=2, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=["<|endoftext|>"])
        hf.train_from_iterator([shakespeare], trainer=trainer)
        ours = os.path.join(outdir, f"tokenizer_golden_train{v}.json")
        subprocess.run([args.tessera, "tokenizer", "train", "--input", corpus, "--vocab-size", str(v),
                        "--special", "<|endoftext|>", "--min-frequency", "2", "--out", ours],
                       check=True, stdout=subprocess.DEVNULL)
        ours_hf = Tokenizer.from_file(ours)
        run = {"vocab_size": v, "hf_vocab_size": hf.get_vocab_size(), "tessera_file": ours,
               "hf_corpus_tokens": len(hf.encode(shakespeare).ids),
               "hf_heldout_tokens": len(hf.encode(heldout).ids) if heldout else 0,
               # our file's counts through HF's encoder, for the record (the C++ test counts with ours)
               "tessera_corpus_tokens_via_hf": len(ours_hf.encode(shakespeare).ids),
               "tessera_heldout_tokens_via_hf": len(ours_hf.encode(heldout).ids) if heldout else 0}
        runs.append(run)
        print(f"train vocab {v}: HF corpus {run['hf_corpus_tokens']} heldout {run['hf_heldout_tokens']}; "
              f"tessera corpus {run['tessera_corpus_tokens_via_hf']} heldout {run['tessera_heldout_tokens_via_hf']}")
    return {"corpus_file": corpus, "heldout_file": heldout_file if heldout else "",
            "heldout_sources": heldout_files, "runs": runs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shared-data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--tessera", help="the tessera binary, for the HF cross-checks")
    ap.add_argument("--corpus-bytes", type=int, default=20_000, help="chunked cases from the corpus start")
    ap.add_argument("--train-vocab", type=int, nargs="*", default=[1000, 4096, 8192])
    ap.add_argument("--heldout", nargs="*", default=[os.path.join("/usr/share/games/fortunes", n) for n in
                                                      ("computers", "science", "wisdom", "literature")])
    args = ap.parse_args()
    outdir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(outdir, exist_ok=True)
    gpt2_dir = os.path.join(args.shared_data, "gpt2-tokenizer")
    enc = gpt2_encoding(gpt2_dir)
    with open(os.path.join(args.shared_data, "tinyshakespeare", "input.txt"), encoding="utf-8") as f:
        shakespeare = f.read()

    texts = [shakespeare[i:i + 2000] for i in range(0, args.corpus_bytes, 2000)]
    texts += TRICKY
    cases = []
    for t in texts:
        cases.append({"text": t, "allow_special": True, "ids": enc.encode(t, allowed_special="all")})
        if "<|endoftext|>" in t:
            cases.append({"text": t, "allow_special": False, "ids": enc.encode_ordinary(t)})
    golden = {"tiktoken": cases}
    whole_ids = enc.encode(shakespeare, allowed_special="all")
    whole_bin = os.path.join(outdir, "tokenizer_golden_shakespeare.bin")
    with open(whole_bin, "wb") as f:
        arr = array.array("i", whole_ids)
        if sys.byteorder != "little":
            arr.byteswap()
        arr.tofile(f)
    golden["whole"] = {"text_file": os.path.abspath(os.path.join(args.shared_data, "tinyshakespeare", "input.txt")),
                       "ids_file": whole_bin, "count": len(whole_ids)}
    mixed = mixed_corpus()
    golden["mixed"] = {"text": mixed, "ids": enc.encode_ordinary(mixed)}

    if args.tessera:
        from tokenizers import Tokenizer
        # a. our trained file, read by HF.
        trained = os.path.join(outdir, "tokenizer_golden_trained.json")
        with tempfile.TemporaryDirectory() as tmp:
            corpus = os.path.join(tmp, "corpus.txt")
            with open(corpus, "w", encoding="utf-8") as f:
                f.write(shakespeare[:300_000])
            subprocess.run([args.tessera, "tokenizer", "train", "--input", corpus, "--vocab-size", "1000",
                            "--special", "<|endoftext|>", "--out", trained], check=True, stdout=subprocess.DEVNULL)
        hf = Tokenizer.from_file(trained)
        samples = [shakespeare[300_000 + i:300_000 + i + 3000] for i in range(0, 30_000, 3000)] + TRICKY
        golden["hf_trained"] = {"tokenizer": trained,
                                "cases": [{"text": s, "ids": hf.encode(s).ids} for s in samples]}
        # b. our GPT-2 tokenizer.json, read by HF, against tiktoken.
        gpt2_json = os.path.join(outdir, "tokenizer_golden_gpt2.json")
        subprocess.run([args.tessera, "tokenizer", "convert", "--tokenizer", gpt2_dir, "--out", gpt2_json],
                       check=True, stdout=subprocess.DEVNULL)
        hf2 = Tokenizer.from_file(gpt2_json)
        bad = [c["text"][:60] for c in cases if c["allow_special"] and hf2.encode(c["text"]).ids != c["ids"]]
        if hf2.encode(shakespeare).ids != whole_ids:
            bad.append("whole of tinyshakespeare")
        if hf2.encode(mixed).ids != golden["mixed"]["ids"]:
            bad.append("mixed corpus")
        if bad:
            sys.exit(f"HF tokenizers on our saved GPT-2 tokenizer.json disagrees with tiktoken on {len(bad)} "
                     f"case(s), first: {bad[0]!r}")
        # c. BPE training: ours and HF's on the same corpus and vocabulary size.
        golden["hf_train"] = train_compare(args, shakespeare, outdir)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False)
    print(f"wrote {len(cases)} tiktoken cases" + (", HF cross-checks passed" if args.tessera else "") +
          f" -> {args.out}")


if __name__ == "__main__":
    main()
