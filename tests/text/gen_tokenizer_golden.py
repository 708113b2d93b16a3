#!/usr/bin/env python3
"""Golden token ids for the tokenizer parity tests (tests/text/test_tokenizer_gpt2.cpp,
TokenizerGolden.*, env TESSERA_TOKENIZER_GOLDEN=<this output>).

1. "tiktoken": GPT-2 ids from tiktoken for the first ~200 KB of tinyshakespeare
   (in 2,000-byte chunks) plus tricky strings (unicode, emoji, CJK, numbers,
   contractions, whitespace runs, tabs, "<|endoftext|>" inside text, with and
   without special-token handling). The Encoding is built offline from
   shared/data/gpt2-tokenizer/{encoder.json,vocab.bpe}: mergeable ranks are the
   encoder.json ids of each token's bytes (through GPT-2's byte decoder).
2. With --tessera <the tessera binary> (and HF `tokenizers` installed):
   a. "hf_trained": `tessera tokenizer train` writes a 1,000-token BPE next to
      the output; HF Tokenizer.from_file loads it and its ids for samples are
      recorded (the C++ test loads the same file and must agree).
   b. `tessera tokenizer convert` saves GPT-2 as tokenizer.json; HF loads it and
      must give tiktoken's ids on every case above (checked here: exit 1 if not).

Needs a Python with tiktoken (and tokenizers for 2.), e.g. PyPI packages in a venv:
  python tests/text/gen_tokenizer_golden.py --out build/text/tokenizer_golden.json \
      --tessera build/tessera
"""
import argparse
import json
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shared-data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--tessera", help="the tessera binary, for the HF cross-checks")
    ap.add_argument("--corpus-bytes", type=int, default=200_000)
    args = ap.parse_args()
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

    if args.tessera:
        from tokenizers import Tokenizer
        outdir = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(outdir, exist_ok=True)
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
        if bad:
            sys.exit(f"HF tokenizers on our saved GPT-2 tokenizer.json disagrees with tiktoken on {len(bad)} "
                     f"case(s), first: {bad[0]!r}")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False)
    print(f"wrote {len(cases)} tiktoken cases" + (", HF cross-checks passed" if args.tessera else "") +
          f" -> {args.out}")


if __name__ == "__main__":
    main()
