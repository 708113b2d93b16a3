// Labeled text tables (data/text_table.h).
#include "tessera/data/text_table.h"

#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"

namespace tessera::data {

namespace {

using Json = nlohmann::json;

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

[[noreturn]] void fail(const std::string& path, int64_t line, const std::string& what) {
  throw Error(line > 0 ? path + ":" + std::to_string(line) + ": " + what : path + ": " + what);
}

std::string read_all(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, 0, "file not found (or not a regular file)");
  std::string s = io::read_file(path, "text table");
  if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) s.erase(0, 3);  // UTF-8 BOM
  if (trim(s).empty()) fail(path, 0, "the file is empty");
  return s;
}

// Lines without their "\n" or "\r\n", numbered from 1.
std::vector<std::pair<int64_t, std::string>> split_lines(const std::string& s) {
  std::vector<std::pair<int64_t, std::string>> out;
  size_t at = 0;
  int64_t n = 0;
  while (at < s.size()) {
    size_t nl = s.find('\n', at);
    std::string line = s.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.emplace_back(++n, std::move(line));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

std::string resolve_format(const std::string& path, const std::string& format) {
  const std::string f = lower(format);
  if (f == "tsv" || f == "csv" || f == "jsonl" || f == "label_text") return f;
  if (f != "auto" && !f.empty())
    fail(path, 0, "unknown format '" + format + "' (use auto, tsv, csv, jsonl or label_text)");
  const std::string ext = lower(std::filesystem::path(path).extension().string());
  if (ext == ".tsv" || ext == ".tab") return "tsv";
  if (ext == ".csv") return "csv";
  if (ext == ".jsonl" || ext == ".ndjson") return "jsonl";
  fail(path, 0, "cannot tell the format from the extension '" + ext +
                    "'; set the format to tsv, csv, jsonl or label_text (e.g. label_text for `<label> <text>` lines)");
}

void check_text(const std::string& path, int64_t line, const std::string& text) {
  if (trim(text).empty()) fail(path, line, "empty text");
}

// A header-row table (tsv or csv) as records of fields, each with the line it starts on.
struct Record {
  int64_t line;
  std::vector<std::string> fields;
};

std::vector<Record> tsv_records(const std::string& content) {
  std::vector<Record> out;
  for (auto& [n, line] : split_lines(content)) {
    if (line.empty()) continue;
    Record r{n, {}};
    size_t at = 0;
    while (true) {
      size_t tab = line.find('\t', at);
      r.fields.push_back(line.substr(at, tab == std::string::npos ? std::string::npos : tab - at));
      if (tab == std::string::npos) break;
      at = tab + 1;
    }
    out.push_back(std::move(r));
  }
  return out;
}

// RFC 4180: fields separated by commas, records by CRLF or LF; a field in
// double quotes may hold commas, line breaks and "" (one quote).
std::vector<Record> csv_records(const std::string& path, const std::string& s) {
  std::vector<Record> out;
  int64_t line = 1;
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    Record r{line, {}};
    bool blank = true;  // a record with one empty unquoted field (an empty line) is skipped
    while (true) {      // one field per iteration
      std::string field;
      if (i < n && s[i] == '"') {
        blank = false;
        const int64_t opened = line;
        ++i;
        while (true) {
          if (i >= n) fail(path, opened, "a quoted field is not closed (missing \")");
          if (s[i] == '"') {
            if (i + 1 < n && s[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (s[i] == '\n') ++line;
          field += s[i++];
        }
        if (i < n && s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') ++i;
        if (i < n && s[i] != ',' && s[i] != '\n')
          fail(path, line, "unexpected character after a closing quote (quote the whole field, and write \" as \"\")");
      } else {
        while (i < n && s[i] != ',' && s[i] != '\n') field += s[i++];
        if (!field.empty() && field.back() == '\r' && (i >= n || s[i] == '\n')) field.pop_back();
        if (!field.empty()) blank = false;
      }
      r.fields.push_back(std::move(field));
      if (i < n && s[i] == ',') {
        blank = false;
        ++i;
        continue;
      }
      if (i < n && s[i] == '\n') {
        ++i;
        ++line;
      }
      break;
    }
    if (!blank) out.push_back(std::move(r));
  }
  return out;
}

int find_column(const std::vector<std::string>& header, const std::string& name) {
  for (size_t c = 0; c < header.size(); ++c)
    if (header[c] == name) return static_cast<int>(c);
  return -1;
}

std::string columns_found(const std::vector<std::string>& header) {
  std::string s;
  for (size_t c = 0; c < header.size(); ++c) s += (c ? ", '" : "'") + header[c] + "'";
  return s;
}

std::vector<TextExample> read_table(const std::string& path, std::vector<Record> records, const TextTableOptions& o) {
  if (records.empty()) fail(path, 0, "the file is empty");
  std::vector<std::string> header;
  for (auto& h : records[0].fields) header.push_back(trim(h));
  const int64_t header_line = records[0].line;
  int text_col = find_column(header, o.text_column);
  if (text_col < 0 && o.text_column == "text") text_col = find_column(header, "sentence");
  if (text_col < 0)
    fail(path, header_line, "no text column '" + o.text_column + "' in the header; columns found: " +
                                columns_found(header));
  const int label_col = find_column(header, o.label_column);
  if (label_col < 0 && o.require_labels)
    fail(path, header_line, "no label column '" + o.label_column + "' in the header; columns found: " +
                                columns_found(header));
  int id_col = find_column(header, "id");
  if (id_col < 0) id_col = find_column(header, "idx");
  std::vector<TextExample> out;
  out.reserve(records.size() - 1);
  for (size_t r = 1; r < records.size(); ++r) {
    const Record& rec = records[r];
    if (rec.fields.size() != header.size())
      fail(path, rec.line, "expected " + std::to_string(header.size()) + " fields (" + columns_found(header) +
                               "), got " + std::to_string(rec.fields.size()));
    TextExample ex;
    ex.line = rec.line;
    ex.text = rec.fields[text_col];
    check_text(path, rec.line, ex.text);
    if (label_col >= 0) ex.label = trim(rec.fields[label_col]);
    if (o.require_labels && ex.label.empty()) fail(path, rec.line, "missing label (column '" + o.label_column + "')");
    ex.id = id_col >= 0 ? trim(rec.fields[id_col]) : std::to_string(rec.line);
    out.push_back(std::move(ex));
  }
  return out;
}

// A JSON scalar as label/id text: strings as they are, integers as "1", other numbers and booleans by their JSON form.
std::string scalar_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::vector<TextExample> read_jsonl(const std::string& path, const std::string& content, const TextTableOptions& o) {
  std::vector<TextExample> out;
  const std::string text_key = o.text_column;
  for (auto& [n, line] : split_lines(content)) {
    if (trim(line).empty()) continue;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::parse_error& e) {
      fail(path, n, std::string("malformed JSON: ") + e.what());
    }
    if (!j.is_object()) fail(path, n, "expected a JSON object, got " + std::string(j.type_name()));
    std::string key = text_key;
    if (!j.contains(key) && key == "text" && j.contains("sentence")) key = "sentence";
    if (!j.contains(key)) {
      std::string keys;
      for (auto& [k, v] : j.items()) keys += (keys.empty() ? "'" : ", '") + k + "'";
      fail(path, n, "no text field '" + text_key + "'; fields found: " + (keys.empty() ? "(none)" : keys));
    }
    if (!j[key].is_string()) fail(path, n, "the text field '" + key + "' is a " + j[key].type_name() + ", not a string");
    TextExample ex;
    ex.line = n;
    ex.text = j[key].get<std::string>();
    check_text(path, n, ex.text);
    if (j.contains(o.label_column) && !j[o.label_column].is_null()) {
      const Json& l = j[o.label_column];
      if (l.is_object() || l.is_array()) fail(path, n, "the label field '" + o.label_column + "' is not a string or number");
      ex.label = trim(scalar_text(l));
    }
    if (o.require_labels && ex.label.empty()) fail(path, n, "missing label (field '" + o.label_column + "')");
    const char* id_key = j.contains("id") ? "id" : j.contains("idx") ? "idx" : nullptr;
    ex.id = id_key && !j[id_key].is_null() ? scalar_text(j[id_key]) : std::to_string(n);
    out.push_back(std::move(ex));
  }
  if (out.empty()) fail(path, 0, "the file is empty");
  return out;
}

std::vector<TextExample> read_label_text(const std::string& path, const std::string& content,
                                         const TextTableOptions& o) {
  std::vector<TextExample> out;
  for (auto& [n, line] : split_lines(content)) {
    if (trim(line).empty()) continue;
    const size_t sp = line.find(' ');
    TextExample ex;
    ex.line = n;
    ex.id = std::to_string(n);
    if (sp == std::string::npos || sp == 0) {
      if (o.require_labels || sp == 0)
        fail(path, n, "expected `<label> <text>` (a label, one space, the text)");
      ex.text = line;  // no label at all: the whole line is text
    } else {
      ex.label = line.substr(0, sp);
      ex.text = line.substr(sp + 1);
    }
    check_text(path, n, ex.text);
    out.push_back(std::move(ex));
  }
  if (out.empty()) fail(path, 0, "the file is empty");
  return out;
}

}  // namespace

std::vector<TextExample> read_text_table(const std::string& path, const TextTableOptions& options) {
  const std::string format = resolve_format(path, options.format);
  const std::string content = read_all(path);
  if (format == "tsv") return read_table(path, tsv_records(content), options);
  if (format == "csv") return read_table(path, csv_records(path, content), options);
  if (format == "jsonl") return read_jsonl(path, content, options);
  return read_label_text(path, content, options);
}

}  // namespace tessera::data
