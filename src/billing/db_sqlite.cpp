// SQLite driver: WAL (readers never block the writer), synchronous=FULL (a
// commit is fsync'ed before it returns), a busy timeout so processes sharing
// the file wait for each other, BEGIN IMMEDIATE for write transactions.
#include <sqlite3.h>

#include <charconv>
#include <unordered_map>

#include "billing/db.h"
#include "tessera/core/error.h"

namespace tessera::billing::db {
namespace {

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(const std::string& path) : where_(path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw Error("ledger: cannot open SQLite database '" + path + "': " + msg);
    }
    sqlite3_busy_timeout(db_, 30000);
    query("PRAGMA journal_mode=WAL");
    query("PRAGMA synchronous=FULL");
    query("PRAGMA foreign_keys=ON");
  }
  ~SqliteConnection() override {
    for (auto& [sql, st] : cache_) sqlite3_finalize(st);
    sqlite3_close(db_);
  }

  Dialect dialect() const override { return Dialect::sqlite; }
  const std::string& where() const override { return where_; }

  Rows query(const std::string& sql, const std::vector<Value>& params = {}) override {
    sqlite3_stmt* st = prepare(sql);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (size_t i = 0; i < params.size(); ++i) {
      int rc = params[i] ? sqlite3_bind_text(st, int(i + 1), params[i]->data(), int(params[i]->size()), SQLITE_TRANSIENT)
                         : sqlite3_bind_null(st, int(i + 1));
      if (rc != SQLITE_OK) fail("binding parameter " + std::to_string(i + 1), sql);
    }
    Rows rows;
    for (;;) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        std::string msg = sqlite3_errmsg(db_);
        sqlite3_reset(st);
        throw Error("ledger: SQLite '" + where_ + "': " + msg + " (in: " + sql.substr(0, 80) + ")");
      }
      Row row(size_t(sqlite3_column_count(st)));
      for (size_t c = 0; c < row.size(); ++c) {
        if (sqlite3_column_type(st, int(c)) == SQLITE_NULL) continue;
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, int(c)));
        row[c] = std::string(text, size_t(sqlite3_column_bytes(st, int(c))));
      }
      rows.push_back(std::move(row));
    }
    sqlite3_reset(st);
    return rows;
  }

  void begin_write() override { query("BEGIN IMMEDIATE"); }
  void commit() override { query("COMMIT"); }
  void rollback() override { query("ROLLBACK"); }
  void lock_account(int64_t) override {}
  void lock_everything() override {}
  void lock_schema() override {}

 private:
  sqlite3_stmt* prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), int(sql.size()), &st, nullptr) != SQLITE_OK) fail("preparing", sql);
    cache_.emplace(sql, st);
    return st;
  }
  [[noreturn]] void fail(const std::string& what, const std::string& sql) {
    throw Error("ledger: SQLite '" + where_ + "': " + what + ": " + sqlite3_errmsg(db_) + " (in: " + sql.substr(0, 80) +
                ")");
  }

  std::string where_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace

std::unique_ptr<Connection> open_sqlite(const std::string& path) { return std::make_unique<SqliteConnection>(path); }

bool is_postgres_url(const std::string& db) {
  return db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
}

int64_t to_i64(const Value& v, int64_t fallback) {
  if (!v) return fallback;
  int64_t out = 0;
  const char* b = v->data();
  const char* e = b + v->size();
  auto [p, ec] = std::from_chars(b, e, out);
  if (ec != std::errc() || p != e) {
    // PostgreSQL's SUM(bigint) is numeric: "12" normally, never a fraction here.
    TSR_CHECK(false, Error, "ledger: expected an integer from the database, got '", *v, "'");
  }
  return out;
}

std::string to_str(const Value& v) { return v ? *v : std::string(); }

}  // namespace tessera::billing::db
