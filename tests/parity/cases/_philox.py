"""Philox4x32-10 in numpy, mirroring src/core/random.cpp, so dropout parity
cases can rebuild Tessera's masks bit for bit: torch's own RNG cannot be
reproduced in C++. Element i of a call with generator state (seed, offset) uses
counter offset + i under key seed; the uniform is the first output word's top
24 bits / 2^24, and the element is kept iff uniform >= p.
"""
import numpy as np
import torch

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LO = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


def philox_word0(counters, key):
    """First output word of Philox4x32-10 for each 64-bit counter (uint64 array)."""
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
    return c0


def uniform(n, seed, offset):
    """The n uniforms in [0, 1) that Tessera's rand() would draw from state (seed, offset)."""
    w = philox_word0(np.arange(n, dtype=np.uint64) + np.uint64(offset), seed)
    return (w >> np.uint64(8)).astype(np.float64) / 16777216.0


def keep_mask(shape, p, seed, offset, dtype=torch.float32):
    """Dropout keep mask (1.0 kept, 0.0 dropped) over `shape` in row-major order."""
    n = 1
    for s in shape:
        n *= s
    keep = uniform(n, seed, offset) >= p
    return torch.from_numpy(keep.reshape(tuple(shape))).to(dtype)
