// Readers: IDX (raw and gzip, real MNIST / Fashion-MNIST files, truncated and
// corrupt copies, image/label count mismatch) and CSV/TSV tables (errors with
// line numbers and columns, label mapping, regression, scikit-learn's tables).
// Real data is optional: tests that need it skip with a message when absent.
#include <gtest/gtest.h>

#include "test_util.h"
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tessera/data/csv.h"
#include "tessera/data/idx.h"
#include "tessera/data/standardizer.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;
using namespace tessera::data;
namespace fs = std::filesystem;

namespace {

fs::path shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "data";
}
const fs::path kFashion = "/usr/share/datasets/fashion-mnist";
const fs::path kSklearn = "/usr/lib/python3/dist-packages/sklearn/datasets/data";

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("tessera_data_") + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  fs::path dir_;
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A raw uint8 IDX file with the given dims and content.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s{0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int k = 3; k >= 0; --k) s += static_cast<char>((d >> (8 * k)) & 0xff);
  s.append(data.begin(), data.end());
  return s;
}

// Runs fn and returns the Error's message ("" if it did not throw).

#define SKIP_UNLESS_EXISTS(p) \
  if (!fs::exists(p)) GTEST_SKIP() << (p) << " not found (real-data test; set TESSERA_SHARED_DATA or install the package)"

}  // namespace

// ---- IDX ----

TEST_F(ReaderTest, IdxRawSyntheticAndDataset) {
  std::vector<uint8_t> px(3 * 2 * 2);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 20);
  auto images = write("img.idx", idx_bytes({3, 2, 2}, px));
  auto labels = write("lbl.idx", idx_bytes({3}, {4, 0, 2}));
  Tensor x = read_idx(images);
  EXPECT_EQ(x.shape(), (Shape{3, 2, 2}));
  EXPECT_FLOAT_EQ(x.to_vector<float>()[11], 220.0f / 255.0f);
  EXPECT_EQ(read_idx(images, false).to_vector<float>()[11], 220.0f);
  auto ds = load_idx_dataset(images, labels);
  EXPECT_EQ(ds->inputs().shape(), (Shape{3, 1, 2, 2}));
  EXPECT_EQ(ds->targets().to_vector<int64_t>(), (std::vector<int64_t>{4, 0, 2}));
  EXPECT_EQ(ds->num_classes(), 5);
  EXPECT_EQ(ds->example_shape(), (Shape{1, 2, 2}));
}

TEST_F(ReaderTest, IdxBadFilesNameTheFileAndTheProblem) {
  EXPECT_NE(error_of([&] { read_idx(path("missing.idx")); }).find("missing.idx: cannot open file"), std::string::npos);
  auto bad_magic = write("magic.idx", std::string("\x01\x02\x08\x01\0\0\0\0", 8));
  EXPECT_NE(error_of([&] { read_idx(bad_magic); }).find("magic.idx: not an IDX file (bad magic"), std::string::npos);
  std::string full = idx_bytes({4, 2, 2}, std::vector<uint8_t>(16, 7));
  auto trunc = write("trunc.idx", full.substr(0, full.size() - 3));
  std::string msg = error_of([&] { read_idx(trunc); });
  EXPECT_NE(msg.find("trunc.idx: IDX dimensions [4, 2, 2] need 32 bytes but the data has 29 (truncated)"),
            std::string::npos) << msg;
  auto hdr = write("hdr.idx", full.substr(0, 9));
  EXPECT_NE(error_of([&] { read_idx(hdr); }).find("truncated IDX header"), std::string::npos);
}

TEST_F(ReaderTest, IdxLabelCountMismatch) {
  auto images = write("img.idx", idx_bytes({3, 2, 2}, std::vector<uint8_t>(12, 1)));
  auto labels = write("lbl.idx", idx_bytes({5}, {1, 2, 3, 4, 5}));
  std::string msg = error_of([&] { load_idx_dataset(images, labels); });
  EXPECT_NE(msg.find("lbl.idx: holds 5 labels but"), std::string::npos) << msg;
  EXPECT_NE(msg.find("img.idx holds 3 images; expected the same count"), std::string::npos) << msg;
  // Swapped arguments are caught by rank.
  EXPECT_NE(error_of([&] { load_idx_dataset(labels, images); }).find("is this a label file?"), std::string::npos);
}

TEST_F(ReaderTest, RealMnistTestSet) {
  fs::path dir = shared_data() / "mnist";
  SKIP_UNLESS_EXISTS(dir / "t10k-images-idx3-ubyte.gz");
  auto ds = load_idx_dataset((dir / "t10k-images-idx3-ubyte.gz").string(), (dir / "t10k-labels-idx1-ubyte.gz").string());
  EXPECT_EQ(ds->inputs().shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(ds->num_classes(), 10);
  std::vector<int64_t> y = ds->targets().to_vector<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(y.begin(), y.begin() + 10), (std::vector<int64_t>{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}));
  std::map<int64_t, int> counts;
  for (auto v : y) ++counts[v];
  EXPECT_EQ(counts[0], 980);
  EXPECT_EQ(counts[9], 1009);
  std::vector<float> x = ds->inputs().to_vector<float>();
  EXPECT_EQ(*std::min_element(x.begin(), x.end()), 0.0f);
  EXPECT_EQ(*std::max_element(x.begin(), x.end()), 1.0f);
}

TEST_F(ReaderTest, TruncatedAndCorruptGzip) {
  fs::path src = shared_data() / "mnist" / "t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(src)) src = kFashion / "t10k-labels-idx1-ubyte.gz";
  SKIP_UNLESS_EXISTS(src);
  std::string gz = read_bytes(src);
  ASSERT_GT(gz.size(), 1000u);
  EXPECT_EQ(read_idx(write("ok.gz", gz)).numel(), 10000);

  auto half = write("half.gz", gz.substr(0, gz.size() / 2));
  std::string msg = error_of([&] { read_idx(half); });
  EXPECT_NE(msg.find(half + ": truncated gzip file: the compressed data ends at byte " +
                     std::to_string(gz.size() / 2)), std::string::npos) << msg;
  // Cut inside the 8-byte trailer: all data inflates, the checksum is missing.
  auto tail = write("tail.gz", gz.substr(0, gz.size() - 4));
  EXPECT_NE(error_of([&] { read_idx(tail); }).find("truncated gzip file"), std::string::npos);

  std::string bad = gz;
  for (size_t i = 200; i < 260; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  auto corrupt = write("corrupt.gz", bad);
  msg = error_of([&] { read_idx(corrupt); });
  EXPECT_NE(msg.find(corrupt + ": corrupt gzip data at compressed byte offset"), std::string::npos) << msg;

  std::string crc = gz;
  crc[crc.size() - 6] = static_cast<char>(crc[crc.size() - 6] ^ 1);  // CRC32 in the trailer
  msg = error_of([&] { read_idx(write("crc.gz", crc)); });
  EXPECT_NE(msg.find("incorrect data check"), std::string::npos) << msg;

  msg = error_of([&] { read_idx(write("garbage.gz", gz + "xyz")); });
  EXPECT_NE(msg.find("trailing garbage"), std::string::npos) << msg;
  // Two concatenated members are one valid gzip stream (here: twice the labels,
  // which the IDX size check then rejects as trailing data, not as bad gzip).
  msg = error_of([&] { read_idx(write("two.gz", gz + gz)); });
  EXPECT_NE(msg.find("(trailing data)"), std::string::npos) << msg;
}

TEST_F(ReaderTest, RealFashionMnistTrainSet) {
  SKIP_UNLESS_EXISTS(kFashion / "train-images-idx3-ubyte.gz");
  auto ds = load_idx_dataset((kFashion / "train-images-idx3-ubyte.gz").string(),
                             (kFashion / "train-labels-idx1-ubyte.gz").string());
  EXPECT_EQ(ds->size(), 60000);
  EXPECT_EQ(ds->num_classes(), 10);
  std::map<int64_t, int> counts;
  for (auto v : ds->targets().to_vector<int64_t>()) ++counts[v];
  for (auto [c, n] : counts) EXPECT_EQ(n, 6000) << "class " << c;
  // Train images with test labels: one clear count error.
  std::string msg = error_of([&] {
    load_idx_dataset((kFashion / "train-images-idx3-ubyte.gz").string(), (kFashion / "t10k-labels-idx1-ubyte.gz").string());
  });
  EXPECT_NE(msg.find("holds 10000 labels but"), std::string::npos) << msg;
  EXPECT_NE(msg.find("holds 60000 images"), std::string::npos) << msg;
}

// ---- CSV ----

TEST_F(ReaderTest, CsvClassificationByName) {
  auto p = write("t.csv",
                 "age, label ,\"bmi, adj\",id\n"
                 "50,sick,22.5,1\r\n"
                 "\n"
                 "61,healthy,\"30\",2\n"
                 "+7,sick,-1e2,3\n");
  Table t = read_csv(p, {.label_column = "label", .ignore_columns = {"id"}});
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"age", "bmi, adj"}));
  EXPECT_EQ(t.label_name, "label");
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"healthy", "sick"}));
  EXPECT_EQ(t.dataset->num_classes(), 2);
  EXPECT_EQ(t.dataset->inputs().to_vector<float>(), (std::vector<float>{50, 22.5f, 61, 30, 7, -100}));
  EXPECT_EQ(t.dataset->targets().to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
}

TEST_F(ReaderTest, CsvNumericLabelsSortNumericallyAndTsv) {
  auto p = write("t.tsv", "x\ty\n1\t10\n2\t2\n3\t9\n4\t2\n");
  Table t = read_csv(p);  // the last column is the label; .tsv means tab-separated
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"2", "9", "10"}));
  EXPECT_EQ(t.dataset->targets().to_vector<int64_t>(), (std::vector<int64_t>{2, 0, 1, 0}));
}

TEST_F(ReaderTest, CsvRegressionAndSkipRows) {
  auto p = write("r.csv", "# exported by a tool\nf1,f2,price\n1,2,3.5\n4,5,-6.25\n");
  Table t = read_csv(p, {.label_column = "price", .classification = false, .skip_rows = 1});
  EXPECT_TRUE(t.class_names.empty());
  EXPECT_EQ(t.dataset->num_classes(), 0);
  EXPECT_EQ(t.dataset->targets().dtype(), DType::F32);
  EXPECT_EQ(t.dataset->targets().to_vector<float>(), (std::vector<float>{3.5f, -6.25f}));
  EXPECT_EQ(t.dataset->inputs().shape(), (Shape{2, 2}));
}

TEST_F(ReaderTest, CsvErrorsNameFileLineAndColumn) {
  auto p = write("bad.csv", "a,b,label\n1,2,x\n\n3,4\n");
  std::string msg = error_of([&] { read_csv(p); });
  EXPECT_EQ(msg, p + ":4: expected 3 fields (as in the header on line 1), got 2");

  p = write("nan.csv", "a,b,label\n1,2,x\n3,abc,y\n");
  msg = error_of([&] { read_csv(p); });
  EXPECT_EQ(msg, p + ":3: column 'b' (field 2): expected a finite number, got 'abc'");

  p = write("empty_field.csv", "a,b,label\n1,,x\n");
  EXPECT_EQ(error_of([&] { read_csv(p); }), p + ":2: column 'b' (field 2): expected a finite number, got an empty field");

  p = write("inf.csv", "a,label\ninf,x\n");
  EXPECT_NE(error_of([&] { read_csv(p); }).find(":2: column 'a' (field 1): expected a finite number, got 'inf'"),
            std::string::npos);

  p = write("reg.csv", "a,y\n1,2\n2,two\n");
  EXPECT_EQ(error_of([&] { read_csv(p, {.classification = false}); }),
            p + ":3: column 'y' (field 2): expected a finite number, got 'two'");

  p = write("nolabel.csv", "a,b\n1,2\n");
  EXPECT_EQ(error_of([&] { read_csv(p, {.label_column = "target"}); }),
            p + ":1: no column named 'target' in the header; columns are 'a', 'b'");

  p = write("quote.csv", "a,label\n\"1,x\n");
  EXPECT_NE(error_of([&] { read_csv(p); }).find(":2: field 1 opens a double quote that is not closed"), std::string::npos);

  p = write("header_only.csv", "a,label\n\n");
  EXPECT_EQ(error_of([&] { read_csv(p); }), p + ": no data rows after the header on line 1");
  EXPECT_NE(error_of([&] { read_csv(path("none.csv")); }).find("none.csv: cannot open file"), std::string::npos);
}

TEST_F(ReaderTest, SklearnBreastCancer) {
  fs::path p = kSklearn / "breast_cancer.csv";
  SKIP_UNLESS_EXISTS(p);
  Table t = load_sklearn_csv(p.string());
  EXPECT_EQ(t.dataset->inputs().shape(), (Shape{569, 30}));
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"malignant", "benign"}));
  EXPECT_EQ(t.dataset->num_classes(), 2);
  std::vector<int64_t> y = t.dataset->targets().to_vector<int64_t>();
  EXPECT_EQ(std::count(y.begin(), y.end(), 0), 212);  // malignant
  EXPECT_EQ(std::count(y.begin(), y.end(), 1), 357);  // benign
  EXPECT_FLOAT_EQ(t.dataset->inputs().to_vector<float>()[0], 17.99f);

  // The recipe's pipeline: stratified 80/20 split, standardizer fitted on train.
  auto [train, test] = split_indices(569, 0.2, 0, t.dataset->targets());
  EXPECT_EQ(test.size(), 114u);
  int64_t test_malignant = 0;
  for (auto i : test) test_malignant += y[i] == 0;
  EXPECT_NEAR(test_malignant, 212 * 0.2, 1.0);
  Standardizer st;
  st.fit(t.dataset->inputs(), train);
  Tensor z = gather_rows(st.transform(t.dataset->inputs()), train);  // (455, 30)
  std::vector<float> zv = z.to_vector<float>();
  for (int j = 0; j < 30; ++j) {
    double m = 0;
    for (int i = 0; i < 455; ++i) m += zv[i * 30 + j];
    EXPECT_NEAR(m / 455, 0.0, 1e-5) << "feature " << j;
  }
}

TEST_F(ReaderTest, SklearnIrisAndWineAndBadFiles) {
  SKIP_UNLESS_EXISTS(kSklearn / "iris.csv");
  Table iris = load_sklearn_csv((kSklearn / "iris.csv").string());
  EXPECT_EQ(iris.dataset->inputs().shape(), (Shape{150, 4}));
  EXPECT_EQ(iris.class_names.size(), 3u);
  Table wine = load_sklearn_csv((kSklearn / "wine_data.csv").string());
  EXPECT_EQ(wine.dataset->inputs().shape(), (Shape{178, 13}));

  auto p = write("short.csv", "3,2,a,b\n1,2,0\n3,4,1\n");
  EXPECT_EQ(error_of([&] { load_sklearn_csv(p); }), p + ": line 1 declares 3 rows but the file has 2");
  p = write("cls.csv", "1,2,a,b\n1,2,2\n");
  EXPECT_EQ(error_of([&] { load_sklearn_csv(p); }), p + ":2: column 'target' (field 3): expected a class id in [0, 2), got '2'");
  p = write("fields.csv", "1,2,a,b\n1,0\n");
  EXPECT_EQ(error_of([&] { load_sklearn_csv(p); }),
            p + ":2: expected 3 fields (2 features and the class id, as line 1 declares), got 2");
  p = write("header.csv", "a,b,label\n1,2,0\n");
  EXPECT_NE(error_of([&] { load_sklearn_csv(p); }).find(":1: expected scikit-learn's first line"), std::string::npos);
}
