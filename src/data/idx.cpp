// IDX reader. The header is: two zero bytes, a type byte (0x08 = uint8), the
// number of dims, then each dim as a big-endian uint32. Gzip is inflated with
// zlib's stream API rather than gzread so a truncated or corrupt file is
// reported with the compressed byte offset where it goes wrong (gzread treats
// a truncated stream as a short read).
#include "tessera/data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace tessera::data {
namespace {

std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK(in.good(), Error, path, ": cannot open file (", std::strerror(errno), ")");
  std::vector<unsigned char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TSR_CHECK(!in.bad(), Error, path, ": read error");
  return buf;
}

// Inflates every gzip member of `z` (concatenated members are legal gzip).
std::vector<unsigned char> gunzip(const std::string& path, const std::vector<unsigned char>& z) {
  std::vector<unsigned char> out;
  // The trailer's ISIZE (size mod 2^32) is a good first guess for the output,
  // trusted only within deflate's maximum ratio (a truncated file has no trailer).
  if (z.size() >= 18) {
    const unsigned char* t = z.data() + z.size() - 4;
    size_t isize = size_t(t[0]) | size_t(t[1]) << 8 | size_t(t[2]) << 16 | size_t(t[3]) << 24;
    if (isize <= 1032 * z.size()) out.reserve(isize);
  }
  z_stream s{};
  TSR_CHECK(inflateInit2(&s, 16 + MAX_WBITS) == Z_OK, Error, path, ": zlib initialization failed");
  s.next_in = const_cast<unsigned char*>(z.data());
  s.avail_in = static_cast<uInt>(z.size());
  unsigned char chunk[1 << 16];
  while (true) {
    s.next_out = chunk;
    s.avail_out = sizeof(chunk);
    int rc = inflate(&s, Z_NO_FLUSH);
    out.insert(out.end(), chunk, chunk + (sizeof(chunk) - s.avail_out));
    const size_t at = z.size() - s.avail_in;  // compressed bytes consumed
    if (rc == Z_STREAM_END) {
      if (s.avail_in == 0) break;
      // Another member follows; anything that is not a gzip header is an error.
      if (s.avail_in >= 2 && s.next_in[0] == 0x1f && s.next_in[1] == 0x8b) {
        inflateReset(&s);
        continue;
      }
      inflateEnd(&s);
      throw Error(path + ": corrupt gzip file: " + std::to_string(s.avail_in) + " bytes of trailing garbage after the "
                  "compressed stream ends at byte offset " + std::to_string(at));
    }
    if (rc == Z_OK) continue;
    std::string msg = s.msg ? s.msg : zError(rc);
    inflateEnd(&s);
    if (rc == Z_BUF_ERROR && s.avail_in == 0)
      throw Error(path + ": truncated gzip file: the compressed data ends at byte " + std::to_string(z.size()) +
                  " before the end of the stream (" + std::to_string(out.size()) +
                  " bytes decompressed so far); the file is incomplete, download or assemble it again");
    throw Error(path + ": corrupt gzip data at compressed byte offset " + std::to_string(at) + " (zlib: " + msg +
                ", " + std::to_string(out.size()) + " bytes decompressed so far)");
  }
  inflateEnd(&s);
  return out;
}

}  // namespace

Tensor read_idx(const std::string& path, bool normalize_images) {
  std::vector<unsigned char> b = read_file(path);
  if (b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b) b = gunzip(path, b);
  TSR_CHECK(b.size() >= 4, Error, path, ": too short to be an IDX file (", b.size(), " bytes, need at least 4)");
  TSR_CHECK(b[0] == 0 && b[1] == 0, Error, path, ": not an IDX file (bad magic: the first two bytes must be zero, got 0x",
            std::hex, int(b[0]), " 0x", int(b[1]), ")");
  TSR_CHECK(b[2] == 0x08, Error, path, ": unsupported IDX element type 0x", std::hex, int(b[2]),
            " (only unsigned byte, 0x08, is used by MNIST)");
  int nd = b[3];
  TSR_CHECK(nd >= 1 && nd <= 4, Error, path, ": unsupported number of IDX dimensions ", nd, " (expected 1 to 4)");
  size_t header = 4 + 4 * static_cast<size_t>(nd);
  TSR_CHECK(b.size() >= header, Error, path, ": truncated IDX header (", b.size(), " bytes, the header of a ", nd,
            "-D file needs ", header, ")");
  Shape shape;
  for (int d = 0; d < nd; ++d) {
    const unsigned char* p = b.data() + 4 + 4 * d;
    shape.push_back((int64_t(p[0]) << 24) | (int64_t(p[1]) << 16) | (int64_t(p[2]) << 8) | int64_t(p[3]));
  }
  size_t expected = header + static_cast<size_t>(shape_numel(shape));
  TSR_CHECK(b.size() == expected, Error, path, ": IDX dimensions ", shape_str(shape), " need ", expected,
            " bytes but the data has ", b.size(), b.size() < expected ? " (truncated)" : " (trailing data)");
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

std::shared_ptr<TensorDataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path) {
  Tensor x = read_idx(images_path, true);
  TSR_CHECK(x.dim() == 3, ShapeError, images_path, ": expected an image file with 3 dims (N, H, W), got ",
            shape_str(x.shape()), (x.dim() == 1 ? " (is this a label file?)" : ""));
  Tensor y = read_idx(labels_path, false);
  TSR_CHECK(y.dim() == 1, ShapeError, labels_path, ": expected a label file with 1 dim (N), got ", shape_str(y.shape()),
            (y.dim() == 3 ? " (is this an image file?)" : ""));
  TSR_CHECK(x.size(0) == y.size(0), ShapeError, labels_path, ": holds ", y.size(0), " labels but ", images_path,
            " holds ", x.size(0), " images; expected the same count");
  int64_t max_label = -1;
  const int64_t* yl = y.data<int64_t>();
  for (int64_t i = 0; i < y.numel(); ++i) max_label = std::max(max_label, yl[i]);
  Tensor inputs = x.view({x.size(0), 1, x.size(1), x.size(2)});  // (N, 1, H, W)
  return std::make_shared<TensorDataset>(inputs, y, max_label + 1);
}

}  // namespace tessera::data
