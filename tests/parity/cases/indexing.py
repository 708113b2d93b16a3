"""Parity cases for cat, stack (src/ops/join.cpp), split, chunk
(src/ops/split.cpp), where, masked_fill (src/ops/where.cpp), gather,
index_select and embedding (src/ops/indexing.cpp).

cat and stack take every input as one list element (attr "dim"). split and
chunk return lists of views; "split" takes an int split_size, "split_sizes" a
list. Index tensors are drawn in range, with repeats, so the backward
scatter-adds collide.
"""
import torch
import torch.nn.functional as F

from harness import T, case

CASES = []


def cat_ref(*xs, dim):
    return torch.cat(xs, dim)


def stack_ref(*xs, dim):
    return torch.stack(xs, dim)


# ---- cat ----
CAT_CASES = [
    ("dim0", [T((2, 3)), T((4, 3))], 0),
    ("dim1", [T((2, 3)), T((2, 1)), T((2, 5))], 1),
    ("neg", [T((2, 3, 4)), T((2, 3, 2))], -1),
    ("middle_layouts", [T((2, 3, 4), layout="t"), T((2, 5, 4)), T((2, 1, 4), layout="slice")], 1),
    ("single", [T((3, 4))], 0),
    ("zero_piece", [T((2, 3)), T((0, 3)), T((1, 3))], 0),
    ("legacy_empty", [T((2, 3)), T((0,))], 0),
    ("1d", [T((3,)), T((5,))], 0),
    ("mixed_grad", [T((2, 3)), T((2, 3), grad=False)], 1),
    ("f64", [T((2, 2), dtype="f64"), T((2, 3), dtype="f64", layout="t")], 1),
    ("i64", [T((2, 3), dtype="i64"), T((1, 3), dtype="i64")], 0),
]
for tag, ins, dim in CAT_CASES:
    CASES.append(case("cat", ins, cat_ref, attrs={"dim": dim}, tag=tag))

# ---- stack ----
for tag, ins, dim in [
    ("dim0", [T((2, 3)), T((2, 3)), T((2, 3))], 0),
    ("dim1", [T((2, 3)), T((2, 3), layout="t")], 1),
    ("last", [T((2, 3)), T((2, 3), layout="slice")], -1),
    ("new_last", [T((4,)), T((4,))], 1),
    ("scalars", [T(()), T(()), T(())], 0),
    ("empty", [T((0, 3)), T((0, 3))], 1),
    ("f64", [T((3,), dtype="f64"), T((3,), dtype="f64")], 0),
]:
    CASES.append(case("stack", ins, stack_ref, attrs={"dim": dim}, tag=tag))

# ---- split / chunk ----
for tag, x, size, dim in [
    ("even", T((6, 3)), 2, 0),
    ("ragged", T((7, 3)), 3, 0),
    ("dim1_t", T((4, 5), layout="t"), 2, 1),
    ("neg_slice", T((2, 3, 5), layout="slice"), 4, -1),
    ("bigger_than_dim", T((3, 2)), 5, 0),
    ("empty_dim", T((0, 2)), 2, 0),
]:
    CASES.append(case("split", [x], lambda x, split_size, dim: torch.split(x, split_size, dim),
                      attrs={"split_size": size, "dim": dim}, tag=tag))
for tag, x, sizes, dim in [
    ("rows", T((6, 3)), [1, 2, 3], 0),
    ("with_zero", T((4, 5)), [2, 0, 3], 1),
    ("t", T((3, 6), layout="t"), [4, 2], 1),
]:
    CASES.append(case("split_sizes", [x], lambda x, sizes, dim: torch.split(x, sizes, dim),
                      attrs={"sizes": sizes, "dim": dim}, tag=tag))
for tag, x, chunks, dim in [
    ("even", T((6, 4)), 3, 0),
    ("ragged", T((5, 4)), 3, 0),  # ceil(5/3) = 2: pieces 2, 2, 1
    ("fewer", T((6, 2)), 4, 0),   # ceil(6/4) = 2: only 3 pieces
    ("last_t", T((3, 7), layout="t"), 2, -1),
    ("empty", T((0, 3)), 3, 0),
]:
    CASES.append(case("chunk", [x], lambda x, chunks, dim: torch.chunk(x, chunks, dim),
                      attrs={"chunks": chunks, "dim": dim}, tag=tag))

# ---- where / masked_fill ----
for tag, ins in [
    ("same", [T((3, 4), dtype="bool"), T((3, 4)), T((3, 4))]),
    ("broadcast", [T((4,), dtype="bool"), T((3, 1)), T((1, 4))]),
    ("cond_bigger", [T((2, 3, 4), dtype="bool"), T((3, 4), layout="t"), T((4,))]),
    ("scalar_b", [T((3, 4), dtype="bool"), T((3, 4), layout="slice"), T(())]),
    ("b_no_grad", [T((5,), dtype="bool", p=0.3), T((5,)), T((5,), grad=False)]),
    ("empty", [T((0, 4), dtype="bool"), T((0, 4)), T((0, 4))]),
    ("f64", [T((2, 3), dtype="bool"), T((2, 3), dtype="f64"), T((2, 3), dtype="f64")]),
    ("i64", [T((2, 3), dtype="bool"), T((2, 3), dtype="i64"), T((2, 3), dtype="i64")]),
]:
    CASES.append(case("where", ins, lambda c, a, b: torch.where(c, a, b), tag=tag))

for tag, ins, value in [
    ("same", [T((3, 4)), T((3, 4), dtype="bool")], -1.5),
    ("row_mask", [T((3, 4), layout="t"), T((4,), dtype="bool")], 0.0),
    ("mask_bigger", [T((3, 4)), T((2, 3, 4), dtype="bool")], 7.0),
    ("col_mask_slice", [T((3, 4), layout="slice"), T((3, 1), dtype="bool")], -10000.0),
    ("f64", [T((4, 2), dtype="f64"), T((4, 2), dtype="bool", p=0.2)], 3.0),
]:
    CASES.append(case("masked_fill", ins, lambda x, m, value: torch.masked_fill(x, m, value),
                      attrs={"value": value}, tag=tag))

# ---- gather ----
for tag, x, idx, dim in [
    ("dim1", T((4, 5)), T((4, 7), dtype="i64", high=5), 1),
    ("dim0", T((4, 5)), T((6, 5), dtype="i64", high=4), 0),
    ("smaller_index", T((4, 5)), T((3, 2), dtype="i64", high=5), 1),
    ("3d_middle", T((2, 5, 3)), T((2, 4, 3), dtype="i64", high=5), 1),
    ("neg_dim", T((2, 3, 6)), T((2, 3, 4), dtype="i64", high=6), -1),
    ("x_t", T((3, 5, 4), layout="t"), T((3, 5, 2), dtype="i64", high=4), 2),
    ("index_t", T((5, 6)), T((5, 3), dtype="i64", high=6, layout="t"), 1),
    ("x_slice", T((4, 6), layout="slice"), T((4, 6), dtype="i64", high=4), 0),
    ("empty_index", T((3, 4)), T((3, 0), dtype="i64", high=4), 1),
    ("1d", T((7,)), T((10,), dtype="i64", high=7), 0),
    ("f64", T((3, 4), dtype="f64"), T((3, 5), dtype="i64", high=4), 1),
]:
    CASES.append(case("gather", [x, idx], lambda x, i, dim: torch.gather(x, dim, i), attrs={"dim": dim}, tag=tag))

# ---- index_select ----
for tag, x, idx, dim in [
    ("rows", T((5, 4)), T((7,), dtype="i64", high=5), 0),
    ("cols", T((3, 6)), T((4,), dtype="i64", high=6), 1),
    ("middle", T((2, 5, 3)), T((8,), dtype="i64", high=5), 1),
    ("neg_t", T((4, 3, 5), layout="t"), T((6,), dtype="i64", high=3), -2),
    ("slice", T((4, 6), layout="slice"), T((5,), dtype="i64", high=4), 0),
    ("empty_index", T((4, 3)), T((0,), dtype="i64"), 0),
    ("f64", T((6, 2), dtype="f64"), T((9,), dtype="i64", high=6), 0),
]:
    CASES.append(case("index_select", [x, idx], lambda x, i, dim: torch.index_select(x, dim, i),
                      attrs={"dim": dim}, tag=tag))

# ---- embedding ----
def embedding_ref(w, idx, padding_idx):
    return F.embedding(idx, w, padding_idx=padding_idx)


for tag, w, idx, pad in [
    ("2d_idx", T((10, 6)), T((3, 4), dtype="i64", high=10), None),
    ("1d_idx_repeats", T((4, 5)), T((20,), dtype="i64", high=4), None),
    ("padding", T((5, 3)), T((4, 6), dtype="i64", high=5), 2),
    ("padding_neg", T((5, 3)), T((12,), dtype="i64", high=5), -1),
    ("weight_t", T((8, 4), layout="t"), T((2, 3), dtype="i64", high=8), None),
    ("3d_idx", T((6, 7)), T((2, 2, 3), dtype="i64", high=6), 0),
    ("scalar_idx", T((6, 3)), T((), dtype="i64", high=6), None),
    ("empty_idx", T((6, 3)), T((0,), dtype="i64", high=6), None),
    ("wide", T((50, 300)), T((64,), dtype="i64", high=50), 3),
    ("f64", T((7, 3), dtype="f64"), T((9,), dtype="i64", high=7), None),
]:
    # The padding row is used by the forward but gets no gradient by definition,
    # so central differences disagree there: compare with torch's gradient only.
    CASES.append(case("embedding", [w, idx], embedding_ref, attrs={"padding_idx": pad}, tag=tag,
                      gradcheck=pad is None))
