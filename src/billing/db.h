// The driver seam under the ledger: one SQL connection, `?` placeholders,
// text or NULL parameters, rows of optional text. Two drivers: SQLite (a file
// path) and PostgreSQL (a postgresql:// URL). The ledger's rules are written
// once over this interface; only the DDL differs by dialect (schema.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tessera::billing::db {

using Value = std::optional<std::string>;  // nullopt = SQL NULL
using Row = std::vector<Value>;
using Rows = std::vector<Row>;

enum class Dialect { sqlite, postgres };

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  // Runs one statement; `?` placeholders take params in order. Errors throw
  // tessera::Error naming where() and the driver's message.
  virtual Rows query(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  // A write transaction. SQLite: BEGIN IMMEDIATE (takes the file's write lock
  // up front, so processes sharing the file serialize instead of deadlocking
  // on an upgrade). PostgreSQL: BEGIN (READ COMMITTED) plus the locks below.
  virtual void begin_write() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  // Inside a write transaction: serialize with every other writer of this
  // account (PostgreSQL: pg_advisory_xact_lock; SQLite: the file lock already does).
  virtual void lock_account(int64_t account_id) = 0;
  // Inside a write transaction: exclude every other writer (schema creation,
  // counter rebuilds).
  virtual void lock_everything() = 0;
  // Inside a write transaction, before the tables may exist: one schema creator at a time.
  virtual void lock_schema() = 0;
  // The path, or the URL without its password, for error messages.
  virtual const std::string& where() const = 0;
};

std::unique_ptr<Connection> open_sqlite(const std::string& path);
std::unique_ptr<Connection> open_postgres(const std::string& url);
bool is_postgres_url(const std::string& db);

// Rolls back unless commit() was called: every write path uses one.
class WriteTxn {
 public:
  explicit WriteTxn(Connection& c) : c_(c) { c_.begin_write(); }
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;
  ~WriteTxn() {
    if (!done_) try {
        c_.rollback();
      } catch (...) {
      }
  }
  void commit() {
    c_.commit();
    done_ = true;
  }

 private:
  Connection& c_;
  bool done_ = false;
};

// Reading values out of rows: integers (NULL -> fallback) and text.
int64_t to_i64(const Value& v, int64_t fallback = 0);
std::string to_str(const Value& v);
inline Value num(int64_t v) { return std::to_string(v); }

}  // namespace tessera::billing::db
