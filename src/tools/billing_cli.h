// Shared by `tessera plans`, `tessera keys` and `tessera usage`: opening the
// ledger named by --db, and printing rows as an aligned table or CSV.
#pragma once
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "tessera/billing/ledger.h"
#include "tessera/core/error.h"

namespace tessera::cli {

// Commands that only read or change existing records refuse a SQLite path
// that is not there (instead of creating an empty ledger and reporting nothing).
inline std::unique_ptr<billing::Ledger> open_ledger(const std::string& db, bool create) {
  bool url = db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
  TSR_CHECK(url || create || std::filesystem::exists(db), Error, "no ledger at '", db,
            "' (create one with tessera plans set NAME --db ", db, ")");
  return billing::Ledger::open(db, "cli");
}

using TextRows = std::vector<std::vector<std::string>>;

inline void print_table(const std::vector<std::string>& header, const TextRows& rows, std::ostream& os = std::cout) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size() && c < width.size(); ++c) width[c] = std::max(width[c], r[c].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t c = 0; c < r.size(); ++c) {
      std::string cell = r[c];
      if (c + 1 < r.size()) cell.resize(width[c], ' ');
      s += (c ? "  " : "") + cell;
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    os << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

inline std::string csv_cell(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

inline void print_csv(const std::vector<std::string>& header, const TextRows& rows, std::ostream& os = std::cout) {
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t c = 0; c < r.size(); ++c) os << (c ? "," : "") << csv_cell(r[c]);
    os << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

inline std::string unix_date(int64_t unix_s) {
  if (unix_s <= 0) return "-";
  char buf[32];
  std::time_t t = std::time_t(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace tessera::cli
