#!/usr/bin/env python3
"""Golden GGUF blocks for tests/quant/test_packed_weight.cpp.

Quantizes a fixed float32 matrix with the `gguf` package's reference
quantizers (gguf.quants, llama.cpp's own Python port of ggml's
quantize_row_q8_0 / q4_0) and writes the input and the block bytes as JSON, so
the C++ test checks that Tessera's packing gives llama.cpp's bytes exactly.

Run: /work/venv-torch/bin/python tests/quant/gen_ggml_blocks.py tests/fixtures/quant/ggml_blocks.json
(needs numpy and gguf from PyPI; the output is checked in)
"""
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType, quants

rng = np.random.default_rng(7)
rows, cols = 4, 96
x = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
x[1, 32:64] = 0.0                                   # an all-zero block
x[2, :32] = np.linspace(-1.0, 1.0, 32, dtype=np.float32)  # exact ties after scaling
x[3, 64:96] *= 1000.0                               # a block with a large scale

out = {"rows": rows, "cols": cols, "input": [float(v) for v in x.reshape(-1)]}
for name, qtype in (("q8_0", GGMLQuantizationType.Q8_0), ("q4_0", GGMLQuantizationType.Q4_0)):
    out[name] = quants.quantize(x, qtype).tobytes().hex()
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
    f.write("\n")
