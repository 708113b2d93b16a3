#!/usr/bin/env python3
"""The peers of bench/decode_speed.py: model conversion and one timed run each.

Conversions of one Hugging Face GPT-2 folder (the same random weights for all):
  CTranslate2   TransformersConverter (float32, int8_float32)
  llama.cpp     a GGUF written here with the `gguf` package (tensor names, layout
                and tokenizer keys as llama.cpp's convert_hf_to_gguf.py writes
                for GPT-2, output.weight a copy of the tied embedding), then
                llama_cpp.llama_model_quantize for F16, BF16, Q8_0 and Q4_0; Q4_0 as
                llama.cpp ships it keeps output.weight in Q6_K, "Q4_0 pure"
                quantizes every matrix to Q4_0 (params.pure)

A timed run (python decode_peers.py '{"engine": ..., ...}'): load the model,
warm up, then generate new_tokens greedy tokens for each of the prompts in one
batch call, and print one JSON line: generated tokens, seconds of the
generation call(s) (prefill included, loading not), the first sequence's tokens.
  transformers  model.generate(min_new_tokens = max_new_tokens, no eos) under
                inference_mode, torch.set_num_threads
  ctranslate2   Generator(intra_threads).generate_batch(min_length = max_length,
                include_prompt_in_result=False)
  llama.cpp     the low-level API: every prompt in one llama_decode, then one
                llama_decode per step with one token of each sequence (n_seq
                sequences, unified KV cache), greedy argmax of the logits; its
                own counters (llama_perf_context) beside the wall time
"""
import ctypes
import json
import os
import struct
import sys
import time

# HF GPT-2 parameter -> GGUF tensor (llama.cpp's MODEL_ARCH.GPT2 names).
GGUF_BLOCK = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
              "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
CONV1D = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")  # stored (in, out) by HF: transposed


def hf_tensors(hf_dir):
    from safetensors.numpy import load_file
    sd = load_file(os.path.join(hf_dir, "model.safetensors"))
    return {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in sd.items()}


def write_gguf_gpt2(hf_dir, tokenizer_dir, out_path):
    """An F32 GGUF (v3) of the HF GPT-2 folder, with the GPT-2 BPE tokenizer."""
    import gguf
    import numpy as np
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    sd = hf_tensors(hf_dir)
    w = gguf.GGUFWriter(out_path, "gpt2")
    w.add_context_length(cfg["n_positions"])
    w.add_embedding_length(cfg["n_embd"])
    w.add_feed_forward_length(cfg.get("n_inner") or 4 * cfg["n_embd"])
    w.add_block_count(cfg["n_layer"])
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    encoder = json.load(open(os.path.join(tokenizer_dir, "encoder.json")))
    tokens = [None] * len(encoder)
    for tok, i in encoder.items():
        tokens[i] = tok
    merges = [line for line in open(os.path.join(tokenizer_dir, "vocab.bpe"), encoding="utf-8").read().split("\n")
              if line and not line.startswith("#version")]
    eot = encoder["<|endoftext|>"]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i == eot else gguf.TokenType.NORMAL for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_bos_token_id(eot)
    w.add_eos_token_id(eot)

    def put(name, arr):
        w.add_tensor(name, np.ascontiguousarray(arr, dtype=np.float32))

    put("token_embd.weight", sd["wte.weight"])
    put("position_embd.weight", sd["wpe.weight"])
    for i in range(cfg["n_layer"]):
        for hf, gg in GGUF_BLOCK.items():
            weight = sd[f"h.{i}.{hf}.weight"]
            put(f"blk.{i}.{gg}.weight", weight.T if hf in CONV1D else weight)
            put(f"blk.{i}.{gg}.bias", sd[f"h.{i}.{hf}.bias"])
    put("output_norm.weight", sd["ln_f.weight"])
    put("output_norm.bias", sd["ln_f.bias"])
    put("output.weight", sd.get("lm_head.weight", sd["wte.weight"]))  # tied: a copy, as convert_hf_to_gguf.py
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


_LOG_SINK = []  # keeps the ctypes callback alive


def quiet_llama():
    """llama.cpp logs every tensor it loads or quantizes to stderr; drop them."""
    import llama_cpp
    if not _LOG_SINK:
        _LOG_SINK.append(llama_cpp.llama_log_callback(lambda level, text, user: None))
        llama_cpp.llama_log_set(_LOG_SINK[0], ctypes.c_void_p(0))


def quantize_gguf(src, dst, ftype, pure=False, threads=2):
    """llama.cpp's own quantizer; ftype 'F16', 'BF16', 'Q8_0' or 'Q4_0'."""
    import llama_cpp
    quiet_llama()
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = {"F16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16, "BF16": llama_cpp.LLAMA_FTYPE_MOSTLY_BF16,
               "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "Q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0}[ftype]
    p.nthread = threads
    p.pure = pure
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize {src} -> {dst} ({ftype}) returned {rc}")


def gguf_weight_bytes(path):
    """Bytes of the tensors a decode step reads whole: all but the position
    table and, when output.weight exists, the input embedding (one row each)."""
    import gguf
    r = gguf.GGUFReader(path)
    names = {t.name for t in r.tensors}
    skip = {"position_embd.weight"} | ({"token_embd.weight"} if "output.weight" in names else set())
    types = {t.name: t.tensor_type.name for t in r.tensors}
    return sum(int(t.n_bytes) for t in r.tensors if t.name not in skip), types.get("output.weight", "")


def safetensors_weight_bytes(folder):
    """The same for a folder of safetensors files (HF GPT-2, Tessera checkpoints):
    every tensor but the position table (names containing 'wpe')."""
    total = 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(folder, name), "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        for key, t in header.items():
            if key != "__metadata__" and "wpe" not in key:
                total += t["data_offsets"][1] - t["data_offsets"][0]
    return total


# ---- timed runs (each in its own process) ----

def run_hf(spec):
    import torch
    import transformers
    torch.set_num_threads(spec["threads"])
    model = transformers.GPT2LMHeadModel.from_pretrained(spec["model"]).eval()
    x = torch.tensor(spec["prompts"])
    n = spec["new_tokens"]

    def gen(k):
        with torch.inference_mode():
            return model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=k,
                                  min_new_tokens=k, pad_token_id=0, eos_token_id=None)
    gen(2)  # warm-up
    t0 = time.perf_counter()
    out = gen(n)
    dt = time.perf_counter() - t0
    new = out[:, x.shape[1]:]
    return {"tokens": int(new.numel()), "seconds": dt, "first": new[0].tolist()}


def run_ct2(spec):
    import ctranslate2
    gen = ctranslate2.Generator(spec["model"], device="cpu", compute_type=spec["compute_type"],
                                intra_threads=spec["threads"], inter_threads=1)
    vocab = json.load(open(os.path.join(spec["model"], "vocabulary.json")))  # id -> token string
    start = [[vocab[i] for i in p] for p in spec["prompts"]]
    n = spec["new_tokens"]

    def generate(k):
        return gen.generate_batch(start, max_length=k, min_length=k, sampling_topk=1, beam_size=1,
                                  include_prompt_in_result=False)
    generate(2)  # warm-up
    t0 = time.perf_counter()
    res = generate(n)
    dt = time.perf_counter() - t0
    lengths = [len(r.sequences_ids[0]) for r in res]
    return {"tokens": sum(lengths), "seconds": dt, "first": list(res[0].sequences_ids[0]),
            "lengths": sorted(set(lengths))}


def run_llama(spec):
    import llama_cpp as L
    import numpy as np
    quiet_llama()
    L.llama_backend_init()
    prompts, n, T = spec["prompts"], spec["new_tokens"], spec["threads"]
    B, P = len(prompts), len(prompts[0])
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(spec["model"].encode(), mp)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {spec['model']}")
    vocab = L.llama_model_get_vocab(model)
    V = L.llama_vocab_n_tokens(vocab)
    cp = L.llama_context_default_params()
    cp.n_ctx = ((B * (P + n) + 255) // 256) * 256
    cp.n_batch = max(B * P, 512)
    cp.n_ubatch = 512
    cp.n_seq_max = B
    cp.kv_unified = True
    cp.n_threads = T
    cp.n_threads_batch = T
    cp.no_perf = False
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        raise RuntimeError("llama_init_from_model failed")
    batch = L.llama_batch_init(max(B * P, B), 0, B)

    def fill(items):  # (token, pos, seq, logits)
        for k, (tok, pos, seq, want) in enumerate(items):
            batch.token[k] = tok
            batch.pos[k] = pos
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = seq
            batch.logits[k] = want
        batch.n_tokens = len(items)
        rc = L.llama_decode(ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        # The outputs, in batch order: one row per token that asked for logits.
        rows = sum(1 for it in items if it[3])
        return np.ctypeslib.as_array(L.llama_get_logits(ctx), shape=(rows * V,)).reshape(rows, V).argmax(axis=1)

    def generate(k):
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
        nxt = fill([(t, j, s, j == P - 1) for s, p in enumerate(prompts) for j, t in enumerate(p)])
        out = [[int(t)] for t in nxt]
        for step in range(1, k):
            nxt = fill([(int(nxt[s]), P + step - 1, s, True) for s in range(B)])
            for s in range(B):
                out[s].append(int(nxt[s]))
        return out
    generate(2)  # warm-up
    L.llama_perf_context_reset(ctx)
    t0 = time.perf_counter()
    out = generate(n)
    dt = time.perf_counter() - t0
    perf = L.llama_perf_context(ctx)
    res = {"tokens": B * n, "seconds": dt, "first": out[0],
           "llama_perf": {"t_p_eval_ms": perf.t_p_eval_ms, "t_eval_ms": perf.t_eval_ms, "n_p_eval": perf.n_p_eval,
                          "n_eval": perf.n_eval}}
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)
    return res


RUNNERS = {"transformers": run_hf, "ctranslate2": run_ct2, "llama.cpp": run_llama}

if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    print(json.dumps(RUNNERS[spec["engine"]](spec)))
