"""Philox4x32-10 in numpy, mirroring src/core/random.cpp, so dropout parity
cases can rebuild Tessera's masks bit for bit: torch's own RNG cannot be
reproduced in C++. A dropout call with generator state (seed, offset) reserves
numel counters from offset under key seed; the mask layout
(include/tessera/ops/dropout_layout.h) says which word each element uses:
  "philox4x32_words4" (the default): element i <- word i % 4 of counter offset + i // 4
  "philox4x32_word0" (runs saved before the layout was recorded): element i <- word 0 of counter offset + i
The uniform is the word's top 24 bits / 2^24, and the element is kept iff uniform >= p.
"""
import numpy as np
import torch

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LO = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)

WORDS4 = "philox4x32_words4"
WORD0 = "philox4x32_word0"


def philox_words(counters, key):
    """The four output words of Philox4x32-10 for each 64-bit counter: uint64 array (4, len(counters))."""
    counters = np.asarray(counters, dtype=np.uint64)
    c0, c1 = counters & _LO, counters >> _32
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = key & 0xFFFFFFFF, (key >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = _M0 * c0  # < 2^64: exact in uint64
        p1 = _M1 * c2
        c0, c1, c2, c3 = ((p1 >> _32) ^ c1 ^ np.uint64(k0), p1 & _LO, (p0 >> _32) ^ c3 ^ np.uint64(k1), p0 & _LO)
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return np.stack([c0, c1, c2, c3])


def philox_word0(counters, key):
    """First output word of Philox4x32-10 for each 64-bit counter (uint64 array)."""
    return philox_words(counters, key)[0]


def _to_unit(words):
    return (words >> np.uint64(8)).astype(np.float64) / 16777216.0


def uniform(n, seed, offset):
    """The n uniforms in [0, 1) that Tessera's rand() would draw from state (seed, offset)."""
    return _to_unit(philox_word0(np.arange(n, dtype=np.uint64) + np.uint64(offset), seed))


def dropout_uniform(n, seed, offset, layout=WORDS4):
    """The n uniforms a dropout call at state (seed, offset) compares with p, in the given layout."""
    if layout == WORD0:
        return uniform(n, seed, offset)
    assert layout == WORDS4, layout
    i = np.arange(n, dtype=np.uint64)
    # wraps modulo 2^64 as the C++ counter does
    words = philox_words(i // np.uint64(4) + np.uint64(offset), seed)
    return _to_unit(words[(i % np.uint64(4)).astype(np.int64), np.arange(n)])


def keep_mask(shape, p, seed, offset, dtype=torch.float32, layout=WORDS4):
    """Dropout keep mask (1.0 kept, 0.0 dropped) over `shape` in row-major order."""
    n = 1
    for s in shape:
        n *= s
    keep = dropout_uniform(n, seed, offset, layout) >= p
    return torch.from_numpy(keep.reshape(tuple(shape))).to(dtype)
