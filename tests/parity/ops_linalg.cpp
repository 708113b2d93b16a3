// Parity ops for matrix products (cases in tests/parity/cases/linalg.py).
#include "registry.h"

using namespace tessera;

PARITY_OP(matmul) { return {matmul(in[0], in[1])}; }
PARITY_OP(mm) { return {mm(in[0], in[1])}; }
PARITY_OP(bmm) { return {bmm(in[0], in[1])}; }
PARITY_OP(linear) { return {linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor())}; }
