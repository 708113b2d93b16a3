// Labeled text files for text classification (fine-tuning): one example per
// row with a text and a label string. Formats:
//   tsv        header row names the columns; fields split on tabs, no quoting
//              (GLUE: SST-2's train.tsv/dev.tsv are `sentence<TAB>label`)
//   csv        header row; RFC 4180 quoting (quoted commas, newlines and "")
//   jsonl      one JSON object per line; the label may be a string or a
//              number (1 -> "1")
//   label_text `<label><SPACE><text>` per line, no header (the sentence-level
//              SST-2 files stsa.binary.{train,dev,test})
// "auto" picks by extension: .tsv/.tab, .csv, .jsonl/.ndjson; anything else
// must name its format. Texts are kept byte for byte (GLUE's SST-2 sentences
// end in a space, which is kept; tokenizers strip it or not as they do);
// labels are trimmed. A UTF-8 byte order mark and CRLF line ends are accepted.
// Blank lines are skipped. Every error names the file and the 1-based line.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::data {

struct TextTableOptions {
  std::string format = "auto";  // auto | tsv | csv | jsonl | label_text
  // Column (tsv/csv) or field (jsonl) names. When the text column is left at
  // "text" and the file has none, a "sentence" column is used (GLUE's name).
  std::string text_column = "text";
  std::string label_column = "label";
  bool require_labels = true;  // false: a missing label column/field gives label ""
};

struct TextExample {
  std::string text;
  std::string label;
  int64_t line = 0;  // 1-based line where the row starts
  std::string id;    // the "id" or "idx" column/field when there is one, else the line number
};

// Throws tessera::Error naming the file and line: file not found, empty file,
// unknown format, missing column (listing the columns found), wrong number of
// fields, malformed JSON line or CSV quoting, empty text, missing label.
std::vector<TextExample> read_text_table(const std::string& path, const TextTableOptions& options = {});

}  // namespace tessera::data
