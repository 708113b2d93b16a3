"""llama.cpp's token ids for whole files, as a compact golden for
tests/text/test_gguf_vocab.cpp (GgufVocab.MatchesLlamaCppOnWholeFiles).

Run with a Python that has llama-cpp-python (PyPI `llama-cpp-python`, which
builds llama.cpp from source):
    python tests/text/gen_llama_cpp_vocab_golden.py --data ../shared/data \
        --out tests/text/llama_cpp_vocab_golden.json
Each file is tokenized as ONE text (add_bos=False, special=False), so the
SentencePiece merge runs over a whole megabyte; the golden keeps the id count,
an FNV-1a 64 hash of the ids (each id as 4 little-endian bytes) and the first
ids, so a mismatch is caught without checking in the ids themselves.
"""
import argparse
import json
import struct

from llama_cpp import Llama, __version__ as llama_cpp_version

FILES = ["tinyshakespeare/input.txt", "models/llama.cpp-vocab/ggml-vocab-llama-spm.gguf.inp"]
VOCABS = ["ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"]


def fnv1a64(ids):
    h = 0xCBF29CE484222325
    for b in b"".join(struct.pack("<i", i) for i in ids):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cases = []
    for vocab in VOCABS:
        model = Llama(model_path=f"{args.data}/models/llama.cpp-vocab/{vocab}", vocab_only=True, verbose=False)
        for f in FILES:
            text = open(f"{args.data}/{f}", "rb").read()
            ids = model.tokenize(text, add_bos=False, special=False)
            cases.append({"vocab": vocab, "file": f, "n_ids": len(ids), "fnv1a64": fnv1a64(ids), "head": ids[:32]})
    with open(args.out, "w") as out:
        json.dump({"llama_cpp_python": llama_cpp_version, "cases": cases}, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
