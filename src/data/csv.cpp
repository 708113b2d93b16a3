// CSV/TSV reader. Fields may be double-quoted (a doubled quote inside is a
// literal quote); a quoted field cannot span lines. Blank lines are skipped
// but still counted, so line numbers in errors match what an editor shows.
#include "tessera/data/csv.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

namespace tessera::data {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads lines with their 1-based numbers, dropping a trailing '\r'.
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path), in_(path) {
    TSR_CHECK(in_.good(), Error, path, ": cannot open file (", std::strerror(errno), ")");
  }
  bool next(std::string& line) {
    if (!std::getline(in_, line)) {
      TSR_CHECK(!in_.bad(), Error, path_, ": read error after line ", number_);
      return false;
    }
    ++number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  // The next line that is not blank.
  bool next_nonblank(std::string& line) {
    while (next(line))
      if (!trim(line).empty()) return true;
    return false;
  }
  int64_t number() const { return number_; }

 private:
  std::string path_;
  std::ifstream in_;
  int64_t number_ = 0;
};

std::vector<std::string> split_fields(const std::string& line, char delim, const std::string& path, int64_t lineno) {
  std::vector<std::string> fields;
  std::string cur;
  size_t i = 0;
  while (true) {
    cur.clear();
    while (i < line.size() && (line[i] == ' ' || (line[i] == '\t' && delim != '\t'))) ++i;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') { cur += '"'; i += 2; continue; }
          ++i;
          closed = true;
          break;
        }
        cur += line[i++];
      }
      TSR_CHECK(closed, Error, path, ":", lineno, ": field ", fields.size() + 1,
                " opens a double quote that is not closed on this line");
      while (i < line.size() && line[i] != delim) {
        TSR_CHECK(line[i] == ' ' || line[i] == '\t', Error, path, ":", lineno, ": field ", fields.size() + 1,
                  " has text after its closing quote");
        ++i;
      }
      fields.push_back(cur);
    } else {
      size_t e = line.find(delim, i);
      if (e == std::string::npos) e = line.size();
      fields.push_back(trim(line.substr(i, e - i)));
      i = e;
    }
    if (i >= line.size()) break;
    ++i;  // the delimiter
  }
  return fields;
}

bool parse_number(const std::string& s, double& v) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (*b == '+') ++b;  // from_chars rejects a leading '+'
  auto [p, ec] = std::from_chars(b, e, v);
  return ec == std::errc() && p == e && std::isfinite(v);
}

double number_or_throw(const std::string& s, const std::string& path, int64_t lineno, const std::string& column,
                       size_t field) {
  double v;
  if (parse_number(s, v)) return v;
  throw Error(path + ":" + std::to_string(lineno) + ": column '" + column + "' (field " + std::to_string(field + 1) +
              "): expected a finite number, got " + (s.empty() ? std::string("an empty field") : "'" + s + "'"));
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 20; ++i) out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > 20) out += ", ...";
  return out;
}

// Class ids in sorted label order (numeric when every label is a number).
std::vector<std::string> sorted_classes(const std::vector<std::string>& labels) {
  std::set<std::string> distinct(labels.begin(), labels.end());
  std::vector<std::string> classes(distinct.begin(), distinct.end());
  bool numeric = std::all_of(classes.begin(), classes.end(), [](const std::string& s) { double v; return parse_number(s, v); });
  if (numeric)
    std::stable_sort(classes.begin(), classes.end(), [](const std::string& a, const std::string& b) {
      double x, y;
      parse_number(a, x);
      parse_number(b, y);
      return x < y;
    });
  return classes;
}

}  // namespace

Table read_csv(const std::string& path, const CsvOptions& opt) {
  const char delim = opt.delimiter ? opt.delimiter
                                   : ((ends_with(path, ".tsv") || ends_with(path, ".tab")) ? '\t' : ',');
  TSR_CHECK(opt.skip_rows >= 0, Error, "read_csv: skip_rows must be >= 0, got ", opt.skip_rows);
  LineReader reader(path);
  std::string line;
  for (int64_t i = 0; i < opt.skip_rows; ++i)
    TSR_CHECK(reader.next(line), Error, path, ": the file has only ", reader.number(), " lines; expected ",
              opt.skip_rows, " lines to skip and a header row");
  TSR_CHECK(reader.next_nonblank(line), Error, path, ": no header row (the file is empty after line ", reader.number(), ")");
  const int64_t header_line = reader.number();
  std::vector<std::string> header = split_fields(line, delim, path, header_line);
  const size_t ncols = header.size();

  size_t label_col = ncols - 1;
  if (!opt.label_column.empty()) {
    auto it = std::find(header.begin(), header.end(), opt.label_column);
    TSR_CHECK(it != header.end(), Error, path, ":", header_line, ": no column named '", opt.label_column,
              "' in the header; columns are ", join_names(header));
    label_col = static_cast<size_t>(it - header.begin());
  }
  std::vector<bool> is_feature(ncols, true);
  is_feature[label_col] = false;
  for (const std::string& name : opt.ignore_columns) {
    auto it = std::find(header.begin(), header.end(), name);
    TSR_CHECK(it != header.end(), Error, path, ":", header_line, ": ignore_columns names '", name,
              "', which is not in the header; columns are ", join_names(header));
    TSR_CHECK(static_cast<size_t>(it - header.begin()) != label_col, Error, "read_csv: column '", name,
              "' is both the label and ignored");
    is_feature[static_cast<size_t>(it - header.begin())] = false;
  }

  Table table;
  table.label_name = header[label_col];
  for (size_t c = 0; c < ncols; ++c)
    if (is_feature[c]) table.feature_names.push_back(header[c]);
  const size_t nfeat = table.feature_names.size();

  std::vector<float> features;          // (N, F)
  std::vector<std::string> labels;      // classification
  std::vector<float> targets;           // regression
  while (reader.next_nonblank(line)) {
    const int64_t ln = reader.number();
    std::vector<std::string> fields = split_fields(line, delim, path, ln);
    TSR_CHECK(fields.size() == ncols, Error, path, ":", ln, ": expected ", ncols, " fields (as in the header on line ",
              header_line, "), got ", fields.size());
    for (size_t c = 0; c < ncols; ++c)
      if (is_feature[c]) features.push_back(static_cast<float>(number_or_throw(fields[c], path, ln, header[c], c)));
    if (opt.classification) {
      TSR_CHECK(!fields[label_col].empty(), Error, path, ":", ln, ": column '", header[label_col], "' (field ",
                label_col + 1, "): the label is empty");
      labels.push_back(fields[label_col]);
    } else {
      targets.push_back(static_cast<float>(number_or_throw(fields[label_col], path, ln, header[label_col], label_col)));
    }
  }
  const int64_t n = static_cast<int64_t>(opt.classification ? labels.size() : targets.size());
  TSR_CHECK(n > 0, Error, path, ": no data rows after the header on line ", header_line);

  Tensor x = from_vector(features, {n, static_cast<int64_t>(nfeat)});
  Tensor y;
  if (opt.classification) {
    table.class_names = sorted_classes(labels);
    std::map<std::string, int64_t> id;
    for (size_t k = 0; k < table.class_names.size(); ++k) id[table.class_names[k]] = static_cast<int64_t>(k);
    std::vector<int64_t> ids;
    ids.reserve(labels.size());
    for (const std::string& l : labels) ids.push_back(id[l]);
    y = from_vector(ids, {n});
  } else {
    y = from_vector(targets, {n});
  }
  table.dataset = std::make_shared<TensorDataset>(x, y, static_cast<int64_t>(table.class_names.size()));
  return table;
}

Table load_sklearn_csv(const std::string& path) {
  LineReader reader(path);
  std::string line;
  TSR_CHECK(reader.next(line), Error, path, ": empty file; expected a first line \"N,F,class names...\"");
  std::vector<std::string> meta = split_fields(line, ',', path, 1);
  double nd = 0, fd = 0;
  TSR_CHECK(meta.size() >= 2 && parse_number(meta[0], nd) && parse_number(meta[1], fd) && nd >= 0 && fd >= 1 &&
                nd == std::floor(nd) && fd == std::floor(fd),
            Error, path, ":1: expected scikit-learn's first line \"N,F,class names...\" (N rows, F features), got '",
            line, "'");
  const int64_t n = static_cast<int64_t>(nd), f = static_cast<int64_t>(fd);
  Table table;
  for (size_t k = 2; k < meta.size(); ++k) table.class_names.push_back(meta[k]);
  TSR_CHECK(!table.class_names.empty() &&
                std::none_of(table.class_names.begin(), table.class_names.end(), [](auto& s) { return s.empty(); }),
            Error, path, ":1: expected class names after N and F on the first line (this loader reads the "
            "classification tables: breast_cancer, iris, wine_data)");
  const int64_t k = static_cast<int64_t>(table.class_names.size());
  table.label_name = "target";
  for (int64_t j = 0; j < f; ++j) table.feature_names.push_back("feature_" + std::to_string(j));

  std::vector<float> features;  // (N, F)
  std::vector<int64_t> ids;
  features.reserve(static_cast<size_t>(n * f));
  while (reader.next_nonblank(line)) {
    const int64_t ln = reader.number();
    std::vector<std::string> fields = split_fields(line, ',', path, ln);
    TSR_CHECK(static_cast<int64_t>(fields.size()) == f + 1, Error, path, ":", ln, ": expected ", f + 1,
              " fields (", f, " features and the class id, as line 1 declares), got ", fields.size());
    for (int64_t j = 0; j < f; ++j)
      features.push_back(static_cast<float>(number_or_throw(fields[j], path, ln, table.feature_names[j], j)));
    double c = number_or_throw(fields[f], path, ln, "target", f);
    TSR_CHECK(c == std::floor(c) && c >= 0 && c < k, Error, path, ":", ln, ": column 'target' (field ", f + 1,
              "): expected a class id in [0, ", k, "), got '", fields[f], "'");
    ids.push_back(static_cast<int64_t>(c));
  }
  const int64_t rows = static_cast<int64_t>(ids.size());
  TSR_CHECK(rows == n, Error, path, ": line 1 declares ", n, " rows but the file has ", rows);
  table.dataset = std::make_shared<TensorDataset>(from_vector(features, {n, f}), from_vector(ids, {n}), k);
  return table;
}

}  // namespace tessera::data
