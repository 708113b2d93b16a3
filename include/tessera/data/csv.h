// Delimited tables (CSV/TSV) as datasets: a header row names the columns, one
// column is the label, the other columns are numeric features. Errors name
// the file, the 1-based line number and the column (wrong field count, a
// field that is not a number, an unknown label column).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tessera/data/dataset.h"

namespace tessera::data {

struct CsvOptions {
  std::string label_column = "";     // header name; empty = the last column
  bool classification = true;        // false: regression, the label is a float target
  char delimiter = 0;                // 0 = '\t' for .tsv/.tab files, ',' otherwise
  int64_t skip_rows = 0;             // lines before the header row
  std::vector<std::string> ignore_columns = {};  // e.g. an id column
};

// A table read into memory. inputs (N, F) float32; targets (N) int64 class
// ids for classification, (N) float32 for regression.
struct Table {
  std::shared_ptr<TensorDataset> dataset;
  std::vector<std::string> feature_names;  // F names, in column order
  std::string label_name;
  // Classification: the distinct label strings; class id i is class_names[i].
  // Sorted numerically when every label is a number ("2" < "10"), else as
  // strings. Keep it with the model so predictions map back to names.
  std::vector<std::string> class_names;
};

Table read_csv(const std::string& path, const CsvOptions& options = {});

// scikit-learn's bundled tables (sklearn/datasets/data/{breast_cancer,iris,
// wine_data}.csv): the first line is "N,F,class_0_name,class_1_name,...",
// then N rows of F features and an integer class id. There is no header row,
// so the features are named "feature_0" .. "feature_{F-1}".
Table load_sklearn_csv(const std::string& path);

}  // namespace tessera::data
