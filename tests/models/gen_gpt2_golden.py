"""Golden values for Tessera's GPT from Hugging Face transformers.

Two modes (both work with transformers 4.40 on torch 1.13 and with 5.x on
torch 2.x: only GPT2Config, GPT2LMHeadModel, save_pretrained, from_pretrained
and the forward with labels are used):

  golden --out DIR
      Builds a small GPT2LMHeadModel with seeded random weights (biases and
      LayerNorm affine perturbed too, so their mapping is tested), saves it
      with save_pretrained (DIR/config.json + DIR/model.safetensors) and
      writes DIR/golden.json: input ids, logits, the loss for labels = ids
      (HF shifts them) and the gradient of every parameter, under Tessera's
      names and layout (Conv1D weights transposed to (out, in)).
      tests/models/test_gpt2_parity.cpp (TESSERA_GPT2_GOLDEN_DIR=DIR) replays it.

  llama --out DIR
      The LLaMA-style options (rmsnorm, rope, swiglu, no bias, untied head)
      against LlamaForCausalLM: weights renamed to Tessera's names here
      (q/k/v stacked into c_attn, up -> c_fc, gate -> c_gate, down -> c_proj)
      and written to DIR/model.safetensors with the GPTConfig in
      DIR/tessera_config.json; DIR/golden.json as above.
      tests/models/test_gpt_hf.cpp (TESSERA_LLAMA_GOLDEN_DIR=DIR) replays it.

  check-export --folder DIR [--folder DIR2 ...] [--tol 1e-4]
      Loads each folder Tessera exported (export_hf_gpt2) with
      GPT2LMHeadModel.from_pretrained, runs it on the ids in
      DIR/tessera_logits.json and compares with Tessera's logits there.
      Exit status 1 on a mismatch.
"""
import argparse
import json
import os
import sys

try:
    import torch
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel
except ImportError as e:  # a clear message instead of a traceback
    sys.exit(f"gen_gpt2_golden.py: needs torch and transformers importable by {sys.executable}: {e}")

CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")


def make_model(seed):
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=512, n_positions=64, n_embd=48, n_layer=2, n_head=4,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, activation_function="gelu_new",
                     layer_norm_epsilon=1e-5)
    model = GPT2LMHeadModel(cfg)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif p.dim() == 1:  # LayerNorm weight
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    model.eval()  # dropout is 0 anyway; eval keeps HF from any training-only path
    return model


def tessera_layout(name, t):
    return t.t().contiguous() if name.endswith(CONV1D) else t


def golden(out):
    os.makedirs(out, exist_ok=True)
    model = make_model(1234)
    model.save_pretrained(out)
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        sys.exit("gen_gpt2_golden.py: save_pretrained wrote no model.safetensors (is safetensors installed?)")
    g = torch.Generator().manual_seed(99)
    ids = torch.randint(0, model.config.vocab_size, (2, 40), generator=g)
    res = model(input_ids=ids, labels=ids)
    res.loss.backward()
    grads = {}
    for name, p in model.named_parameters():  # tied lm_head appears once, as transformer.wte.weight
        gt = tessera_layout(name, p.grad.detach())
        grads[name] = {"shape": list(gt.shape), "values": gt.reshape(-1).tolist()}
    doc = {
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "ids": ids.tolist(),
        "logits_shape": list(res.logits.shape),
        "logits": res.logits.detach().reshape(-1).tolist(),
        "loss": res.loss.item(),
        "grads": grads,
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(doc, f)
    print(f"gen_gpt2_golden: transformers {transformers.__version__}, torch {torch.__version__}: "
          f"loss {res.loss.item():.6f}, {len(grads)} gradients -> {out}")


def llama_to_tessera(hf):
    """{HF Llama name: tensor} -> {Tessera name: tensor}."""
    out = {}
    n_layer = 1 + max(int(k.split(".")[2]) for k in hf if k.startswith("model.layers."))
    out["transformer.wte.weight"] = hf["model.embed_tokens.weight"]
    out["transformer.ln_f.weight"] = hf["model.norm.weight"]
    if "lm_head.weight" in hf:
        out["lm_head.weight"] = hf["lm_head.weight"]
    for i in range(n_layer):
        s, d = f"model.layers.{i}.", f"transformer.h.{i}."
        out[d + "ln_1.weight"] = hf[s + "input_layernorm.weight"]
        out[d + "ln_2.weight"] = hf[s + "post_attention_layernorm.weight"]
        out[d + "attn.c_attn.weight"] = torch.cat([hf[s + f"self_attn.{x}_proj.weight"] for x in "qkv"], 0)
        out[d + "attn.c_proj.weight"] = hf[s + "self_attn.o_proj.weight"]
        out[d + "mlp.c_fc.weight"] = hf[s + "mlp.up_proj.weight"]
        out[d + "mlp.c_gate.weight"] = hf[s + "mlp.gate_proj.weight"]
        out[d + "mlp.c_proj.weight"] = hf[s + "mlp.down_proj.weight"]
    return out


def llama(out):
    from transformers import LlamaConfig, LlamaForCausalLM
    from safetensors.torch import save_file
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(4321)
    cfg = LlamaConfig(vocab_size=512, hidden_size=48, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                      rms_norm_eps=1e-6, tie_word_embeddings=False, attention_bias=False, hidden_act="silu")
    model = LlamaForCausalLM(cfg)
    g = torch.Generator().manual_seed(4322)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1 if p.dim() == 1
                    else torch.randn(p.shape, generator=g) * 0.05)
    model.eval()
    ids = torch.randint(0, cfg.vocab_size, (2, 40), generator=torch.Generator().manual_seed(98))
    res = model(input_ids=ids, labels=ids)
    res.loss.backward()
    params = {n: p.detach().contiguous() for n, p in model.named_parameters()}
    grads = {n: p.grad.detach() for n, p in model.named_parameters()}
    save_file(llama_to_tessera(params), os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    tessera_cfg = {"vocab_size": 512, "block_size": 64, "n_layer": 2, "n_head": 4, "n_embd": 48, "dropout": 0.0,
                   "bias": False, "norm": "rmsnorm", "position": "rope", "mlp": "swiglu", "mlp_hidden": 128,
                   "norm_eps": 1e-6, "rope_theta": 10000.0, "tie_embeddings": False}
    with open(os.path.join(out, "tessera_config.json"), "w") as f:
        json.dump(tessera_cfg, f)
    doc = {
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "ids": ids.tolist(),
        "logits_shape": list(res.logits.shape),
        "logits": res.logits.detach().reshape(-1).tolist(),
        "loss": res.loss.item(),
        "grads": {n: {"shape": list(t.shape), "values": t.reshape(-1).tolist()}
                  for n, t in llama_to_tessera(grads).items()},
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(doc, f)
    print(f"gen_gpt2_golden llama: transformers {transformers.__version__}, torch {torch.__version__}: "
          f"loss {res.loss.item():.6f} -> {out}")


def check_export(folders, tol):
    ok = True
    for folder in folders:
        with open(os.path.join(folder, "tessera_logits.json")) as f:
            doc = json.load(f)
        model = GPT2LMHeadModel.from_pretrained(folder)
        model.eval()
        ids = torch.tensor(doc["ids"], dtype=torch.long)
        with torch.no_grad():
            logits = model(input_ids=ids).logits
        ours = torch.tensor(doc["logits"], dtype=torch.float32).reshape(logits.shape)
        err = (logits - ours).abs().max().item()
        scale = max(logits.abs().max().item(), 1e-12)
        good = err <= tol * scale
        ok &= good
        print(f"check-export {folder}: max |HF - Tessera| = {err:.3g} (relative {err / scale:.3g}, tol {tol}) "
              f"{'OK' if good else 'MISMATCH'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["golden", "llama", "check-export"])
    ap.add_argument("--out")
    ap.add_argument("--folder", action="append", default=[])
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    if a.mode in ("golden", "llama"):
        if not a.out:
            ap.error(a.mode + " needs --out")
        (golden if a.mode == "golden" else llama)(a.out)
    else:
        if not a.folder:
            ap.error("check-export needs --folder")
        sys.exit(0 if check_export(a.folder, a.tol) else 1)


if __name__ == "__main__":
    main()
