// Data sections of recipes -> datasets (IDX image folders, CSV tables).
#include "tessera/train/data_source.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "io/json_reader.h"

#include "tessera/data/augment.h"
#include "tessera/data/csv.h"
#include "tessera/data/idx.h"
#include "tessera/data/standardizer.h"
#include "tessera/ops/elementwise.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::train {

namespace {

// The "data" section, read strictly (io/json_reader.h). validation_fraction's
// default depends on the kind (idx 0.1, csv 0), so absent stays absent.
struct DataSection {
  std::string kind, dataset, format = "table", label_column, delimiter;
  std::optional<double> validation_fraction;
  double test_fraction = 0.2, mean = 0.0, stddev = 1.0;
  int64_t augment_shift = 0;
  std::vector<std::string> ignore_columns;
  bool stratify = true, standardize = true;
};

DataSection parse_section(const std::string& text) {
  json j = io::parse_json(text, "config: the data section is not valid JSON: ");
  if (j.is_null()) j = json::object();
  TSR_CHECK(j.is_object(), Error, "config: \"data\" must be an object");
  io::JsonReader r(j, "config", "data.");
  r.known_keys({"kind", "validation_fraction", "test_fraction", "mean", "std", "augment_shift", "dataset", "format",
                "label_column", "ignore_columns", "stratify", "standardize", "delimiter"});
  DataSection d;
  TSR_CHECK(r.has("kind") && j["kind"].is_string(), Error, "config: 'data.kind' must be \"idx\" or \"csv\"");
  r.read("kind", d.kind);
  double v = 0;
  if (r.read("validation_fraction", v)) d.validation_fraction = v;
  r.read("test_fraction", d.test_fraction);
  r.read("mean", d.mean);
  r.read("std", d.stddev);
  r.read("augment_shift", d.augment_shift);
  r.read("dataset", d.dataset);
  r.read("format", d.format);
  r.read("label_column", d.label_column);
  r.read("ignore_columns", d.ignore_columns);
  r.read("stratify", d.stratify);
  r.read("standardize", d.standardize);
  r.read("delimiter", d.delimiter);
  return d;
}

// "<dir>/<name>" or "<dir>/<name>.gz", whichever exists.
std::string find_idx(const std::string& dir, const std::string& name) {
  fs::path raw = fs::path(dir) / name, gz = fs::path(dir) / (name + ".gz");
  if (fs::exists(raw)) return raw.string();
  if (fs::exists(gz)) return gz.string();
  throw Error("data: " + dir + " has neither " + name + " nor " + name + ".gz (expected an MNIST-style IDX folder)");
}

std::shared_ptr<data::TensorDataset> idx_split(const DataSection& section, const std::string& dir, const std::string& prefix,
                                               int64_t num_classes) {
  TSR_CHECK(fs::is_directory(dir), Error, "data: '", dir, "' is not a folder (kind \"idx\" needs the folder holding ",
            prefix, "-images-idx3-ubyte[.gz])");
  auto ds = data::load_idx_dataset(find_idx(dir, prefix + "-images-idx3-ubyte"),
                                   find_idx(dir, prefix + "-labels-idx1-ubyte"));
  Tensor x = ds->inputs();  // (N, 1, H, W) in [0, 1]
  double mean = section.mean, sd = section.stddev;
  TSR_CHECK(sd > 0, Error, "config: 'data.std' must be positive, got ", sd);
  if (mean != 0.0 || sd != 1.0) x = mul(add(x, -mean), 1.0 / sd).contiguous();
  return std::make_shared<data::TensorDataset>(x, ds->targets(),
                                               num_classes > 0 ? num_classes : ds->num_classes());
}

data::Table read_table(const DataSection& section, const std::string& path, bool classification) {
  TSR_CHECK(fs::is_regular_file(path), Error, "data: '", path, "' is not a file (kind \"csv\" needs a table file)");
  if (section.format == "sklearn") return data::load_sklearn_csv(path);
  data::CsvOptions o;
  o.label_column = section.label_column;
  o.classification = classification;
  o.ignore_columns = section.ignore_columns;
  const std::string& d = section.delimiter;
  if (!d.empty()) o.delimiter = d == "\\t" ? '\t' : d[0];
  return data::read_csv(path, o);
}

std::vector<int64_t> pick(const std::vector<int64_t>& base, const std::vector<int64_t>& idx) {
  std::vector<int64_t> out;
  out.reserve(idx.size());
  for (int64_t i : idx) out.push_back(base[static_cast<size_t>(i)]);
  return out;
}

// The seeded CSV split: (train, validation, test) row lists. Eval replays it.
struct CsvSplit {
  std::vector<int64_t> train, validation, test;
};
CsvSplit split_rows(const DataSection& section, const data::TensorDataset& ds, uint64_t seed, bool classification) {
  double test_frac = section.test_fraction, val_frac = section.validation_fraction.value_or(0.0);
  TSR_CHECK(test_frac >= 0 && test_frac < 1 && val_frac >= 0 && val_frac < 1, Error,
            "config: data.test_fraction and data.validation_fraction must be in [0, 1)");
  bool stratify = classification && section.stratify;
  Tensor labels = stratify ? ds.targets() : Tensor();
  auto [rest, test] = data::split_indices(ds.size(), test_frac, seed, labels);
  CsvSplit s;
  s.test = test;
  if (val_frac > 0) {
    Tensor rest_labels = stratify ? data::gather_rows(labels, rest) : Tensor();
    // The validation share is of the whole table, so rescale it to the remainder.
    auto [tr, va] = data::split_indices(static_cast<int64_t>(rest.size()), val_frac / (1.0 - test_frac), seed + 1,
                                        rest_labels);
    s.train = pick(rest, tr);
    s.validation = pick(rest, va);
  } else {
    s.train = rest;
  }
  return s;
}

std::shared_ptr<data::TensorDataset> subset(const data::TensorDataset& ds, const std::vector<int64_t>& rows,
                                            const data::Standardizer* st) {
  Tensor x = data::gather_rows(ds.inputs(), rows), y = data::gather_rows(ds.targets(), rows);
  if (st) x = st->transform(x);
  return std::make_shared<data::TensorDataset>(x, y, ds.num_classes());
}

}  // namespace

TrainData load_train_data(const std::string& data_json, const std::string& path, uint64_t seed, bool classification) {
  DataSection section = parse_section(data_json);
  const std::string& kind = section.kind;
  TrainData out;
  if (kind == "idx") {
    TSR_CHECK(classification, Error, "config: data kind \"idx\" holds class labels; task must be classification");
    auto train = idx_split(section, path, "train", 0);
    out.test = idx_split(section, path, "t10k", train->num_classes());
    double val = section.validation_fraction.value_or(0.1);
    std::shared_ptr<const data::Dataset> tr = train;
    if (val > 0) {
      auto [tr_rows, va_rows] = data::split_indices(train->size(), val, seed, train->targets());
      tr = std::make_shared<data::SubsetDataset>(train, tr_rows);
      out.validation = std::make_shared<data::SubsetDataset>(train, va_rows);
    }
    int64_t shift = section.augment_shift;
    if (shift > 0) tr = std::make_shared<data::RandomShiftDataset>(tr, shift, seed);
    out.train = tr;
    out.data_state_json = json({{"num_classes", train->num_classes()}}).dump();
    return out;
  }
  TSR_CHECK(kind == "csv", Error, "config: 'data.kind' must be \"idx\" or \"csv\", got \"", kind, "\"");
  data::Table t = read_table(section, path, classification);
  CsvSplit s = split_rows(section, *t.dataset, seed, classification);
  TSR_CHECK(!s.train.empty(), Error, "data: ", path, " leaves no training rows after the split");
  data::Standardizer st;
  bool standardize = section.standardize;
  if (standardize) st.fit(t.dataset->inputs(), s.train);
  const data::Standardizer* sp = standardize ? &st : nullptr;
  out.train = subset(*t.dataset, s.train, sp);
  if (!s.validation.empty()) out.validation = subset(*t.dataset, s.validation, sp);
  if (!s.test.empty()) out.test = subset(*t.dataset, s.test, sp);
  out.class_names = t.class_names;
  json state = {{"standardize", standardize}, {"mean", st.mean()}, {"scale", st.scale()},
                {"class_names", t.class_names}, {"feature_names", t.feature_names}};
  out.data_state_json = state.dump();
  return out;
}

TrainData load_eval_data(const std::string& data_json, const std::string& path, uint64_t seed, bool classification,
                         const std::string& data_state_json) {
  DataSection section = parse_section(data_json);
  const std::string& kind = section.kind;
  TrainData out;
  json state = json::parse(data_state_json);
  if (kind == "idx") {
    out.test = idx_split(section, path, "t10k", state.is_object() ? state.value("num_classes", int64_t{0}) : 0);
    return out;
  }
  data::Table t = read_table(section, path, classification);
  CsvSplit s = split_rows(section, *t.dataset, seed, classification);
  TSR_CHECK(!s.test.empty(), Error, "data: the recipe's test_fraction leaves no test rows in ", path);
  data::Standardizer st;
  bool standardize = state.is_object() && state.value("standardize", false);
  if (standardize) st = data::Standardizer(state["mean"].get<std::vector<double>>(), state["scale"].get<std::vector<double>>());
  out.test = subset(*t.dataset, s.test, standardize ? &st : nullptr);
  if (state.is_object() && state.contains("class_names")) out.class_names = state["class_names"];
  return out;
}

}  // namespace tessera::train
