#!/usr/bin/env python3
"""An independent safetensors reader/writer (standard library only: json,
struct) used by tests/io/test_safetensors.cpp to check that Tessera's files
follow the format and that Tessera loads files it did not write itself.

  safetensors_peer.py read FILE    print {"metadata": {...}, "tensors": {name:
                                   {"dtype", "shape", "data_offsets", "values"}}}
                                   as JSON; exits 1 with a message on any format
                                   violation. Non-finite floats are printed as
                                   the strings "nan", "inf", "-inf".
  safetensors_peer.py write FILE   write the fixture described by fixture()
                                   (deliberately unlike Tessera's own layout:
                                   unpadded header, narrow dtypes first, so an
                                   F64 tensor sits at an odd offset).
"""
import json
import math
import struct
import sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
         "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
# struct codes for the dtypes this script decodes; BF16 is decoded by hand.
FORMATS = {"BOOL": "?", "U8": "B", "I8": "b", "I16": "h", "U16": "H", "F16": "e", "I32": "i",
           "U32": "I", "F32": "f", "F64": "d", "I64": "q", "U64": "Q"}


def die(msg):
    print("safetensors_peer: " + msg, file=sys.stderr)
    sys.exit(1)


def decode(dtype, raw):
    n = len(raw) // SIZES[dtype]
    if dtype == "BF16":
        halves = struct.unpack("<%dH" % n, raw)
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    return list(struct.unpack("<%d%s" % (n, FORMATS[dtype]), raw))


def encode_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        die("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        die("header length %d past end of file" % n)
    header_bytes = blob[8:8 + n]
    if n % 8 != 0:
        die("header length %d is not a multiple of 8 (the reference writer pads it)" % n)
    if not header_bytes.startswith(b"{"):
        die("header does not start with '{'")
    pairs_seen = []
    header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=lambda p: (pairs_seen.append(p), dict(p))[1])
    top = pairs_seen[-1]
    if len({k for k, _ in top}) != len(top):
        die("duplicate keys in header")
    data = blob[8 + n:]
    out = {"metadata": header.pop("__metadata__", {}), "tensors": {}}
    spans = []
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            die("tensor %r has fields %r" % (name, sorted(info)))
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        numel = 1
        for d in shape:
            numel *= d
        if end - begin != numel * SIZES[dtype]:
            die("tensor %r: offsets [%d, %d] do not match shape %r of %s" % (name, begin, end, shape, dtype))
        if begin % SIZES[dtype] != 0:
            die("tensor %r is not aligned to its element size" % name)
        spans.append((begin, end, name))
        out["tensors"][name] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, end],
                                "values": [encode_value(v) for v in decode(dtype, data[begin:end])]}
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            die("tensor %r starts at %d, expected %d (gap or overlap)" % (name, begin, pos))
        pos = end
    if pos != len(data):
        die("%d trailing bytes" % (len(data) - pos))
    json.dump(out, sys.stdout, sort_keys=True)
    print()


def fixture():
    """(name, dtype, shape, values) written by `write`; the C++ test knows the same formulas."""
    bf16 = [struct.unpack("<I", struct.pack("<f", v))[0] >> 16 for v in (1.0, -2.5, 0.15625, 3.0e38, -0.0, 7.0)]
    return [
        ("mask", "BOOL", [3], [True, False, True]),
        ("layer.0.weight", "F64", [2, 3], [0.1 * i - 0.25 for i in range(6)]),
        ("half", "BF16", [2, 3], bf16),  # raw uint16 bit patterns
        ("idx32", "I32", [4], [-(2 ** 31), -1, 0, 2 ** 31 - 1]),
        ("idx64", "I64", [2, 2], [-(2 ** 63), -7, 12345678901234, 2 ** 63 - 1]),
        ("scalar", "F32", [], [0.333251953125]),
        ("empty", "F32", [0, 4], []),
        ("w", "F32", [2, 2, 2], [float(i) / 8 for i in range(8)]),
    ]


def write(path):
    fmt = dict(FORMATS, BF16="H")
    header = {"__metadata__": {"format": "pt", "writer": "safetensors_peer.py"}}
    data = b""
    for name, dtype, shape, values in fixture():
        raw = struct.pack("<%d%s" % (len(values), fmt[dtype]), *values)
        header[name] = {"shape": shape, "data_offsets": [len(data), len(data) + len(raw)], "dtype": dtype}
        data += raw
    text = json.dumps(header).encode("utf-8")  # with spaces, and not padded
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("read", "write"):
        die("usage: safetensors_peer.py read|write FILE")
    (read if sys.argv[1] == "read" else write)(sys.argv[2])
