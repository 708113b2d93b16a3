#!/usr/bin/env python3
"""Convert a Hugging Face folder's pytorch_model.bin to model.safetensors.

Usage:
    python scripts/convert_pytorch_bin.py FOLDER

Tessera reads weights only from safetensors files (load_hf_bert,
load_hf_gpt2): this writes FOLDER/model.safetensors beside
FOLDER/pytorch_model.bin, with the same tensor names and dtypes and the
metadata {"format": "pt"} that transformers writes. The .bin is loaded with
torch.load(weights_only=True) where torch supports it (1.13+), so a pickle
cannot run code; on an older torch it falls back to a plain torch.load (only
use files you trust). Tensors that share storage (tied weights, e.g.
cls.predictions.decoder.weight and the word embeddings) are written as
separate copies, as safetensors requires. An existing model.safetensors is
never overwritten: remove it first. Needs torch and safetensors
(pip install torch safetensors).
"""
import inspect
import os
import sys


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    folder = argv[1]
    src = os.path.join(folder, "pytorch_model.bin")
    dst = os.path.join(folder, "model.safetensors")
    if not os.path.isfile(src):
        sys.stderr.write(f"convert_pytorch_bin: '{src}' not found\n")
        return 1
    if os.path.exists(dst):
        sys.stderr.write(f"convert_pytorch_bin: '{dst}' already exists; not overwriting it (remove it first)\n")
        return 1
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as e:
        sys.stderr.write(f"convert_pytorch_bin: needs torch and safetensors (pip install torch safetensors): {e}\n")
        return 1
    kwargs = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = True
    state = torch.load(src, **kwargs)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        sys.stderr.write(f"convert_pytorch_bin: '{src}' does not hold a dict of tensors\n")
        return 1
    # Own contiguous copies: safetensors refuses shared storage and views.
    tensors = {k: v.detach().clone().contiguous() for k, v in state.items()}
    tmp = dst + ".tmp"
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.replace(tmp, dst)
    print(f"convert_pytorch_bin: {len(tensors)} tensors -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
