// IDX reader. The header is: two zero bytes, a type byte (0x08 = uint8), the
// number of dims, then each dim as a big-endian uint32.
#include "tessera/data/idx.h"

#include <zlib.h>

#include <cstring>
#include <vector>

namespace tessera::data {
namespace {

std::vector<unsigned char> read_all(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads raw files transparently too
  TSR_CHECK(f != nullptr, Error, path, ": cannot open file");
  std::vector<unsigned char> buf;
  unsigned char chunk[1 << 16];
  while (true) {
    int n = gzread(f, chunk, sizeof(chunk));
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      throw Error(path + ": corrupt or truncated gzip data (" + msg + ")");
    }
    if (n == 0) break;
    buf.insert(buf.end(), chunk, chunk + n);
  }
  gzclose(f);
  return buf;
}

}  // namespace

Tensor read_idx(const std::string& path, bool normalize_images) {
  std::vector<unsigned char> b = read_all(path);
  TSR_CHECK(b.size() >= 4, Error, path, ": too short to be an IDX file (", b.size(), " bytes)");
  TSR_CHECK(b[0] == 0 && b[1] == 0, Error, path, ": bad IDX magic (first two bytes must be zero)");
  TSR_CHECK(b[2] == 0x08, Error, path, ": unsupported IDX element type 0x", std::hex, int(b[2]),
            " (only unsigned byte, 0x08, is used by MNIST)");
  int nd = b[3];
  TSR_CHECK(nd >= 1 && nd <= 4, Error, path, ": unsupported number of IDX dimensions ", nd);
  size_t header = 4 + 4 * static_cast<size_t>(nd);
  TSR_CHECK(b.size() >= header, Error, path, ": truncated IDX header");
  Shape shape;
  for (int d = 0; d < nd; ++d) {
    const unsigned char* p = b.data() + 4 + 4 * d;
    shape.push_back((int64_t(p[0]) << 24) | (int64_t(p[1]) << 16) | (int64_t(p[2]) << 8) | int64_t(p[3]));
  }
  size_t expected = header + static_cast<size_t>(shape_numel(shape));
  TSR_CHECK(b.size() == expected, Error, path, ": IDX dimensions ", shape_str(shape), " need ", expected,
            " bytes but the file has ", b.size(), b.size() < expected ? " (truncated)" : " (trailing data)");
  const unsigned char* data = b.data() + header;
  int64_t n = shape_numel(shape);
  if (nd == 1) {
    Tensor out = empty(shape, {.dtype = DType::I64});
    int64_t* o = out.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) o[i] = data[i];
    return out;
  }
  Tensor out = empty(shape, {.dtype = DType::F32});
  float* o = out.data<float>();
  float scale = normalize_images ? 1.0f / 255.0f : 1.0f;
  for (int64_t i = 0; i < n; ++i) o[i] = data[i] * scale;
  return out;
}

}  // namespace tessera::data
