// PostgreSQL driver (libpq): `?` becomes $1..$n, parameters go as text and
// the server infers their types from the statement. Writers of one account
// serialize on a transaction-scoped advisory lock keyed by the account id,
// taken before the counters are read, so two server processes on one database
// can never both admit against the same remaining budget.
#include <libpq-fe.h>

#include "billing/db.h"
#include "tessera/core/error.h"

namespace tessera::billing::db {
namespace {

// postgresql://user:secret@host/db -> postgresql://user:***@host/db; also password=... in the query.
std::string without_password(std::string url) {
  size_t scheme = url.find("://");
  size_t at = url.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme != std::string::npos && at != std::string::npos && (slash == std::string::npos || at < slash)) {
    size_t colon = url.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) url.replace(colon + 1, at - colon - 1, "***");
  }
  size_t pw = url.find("password=");
  if (pw != std::string::npos) {
    size_t end = url.find('&', pw);
    url.replace(pw + 9, (end == std::string::npos ? url.size() : end) - pw - 9, "***");
  }
  return url;
}

// libpq's messages span lines ("...failed: ...\n\tIs the server running..."): one line for the CLI.
std::string one_line(std::string msg) {
  std::string out;
  for (char ch : msg) {
    if (ch == '\n' || ch == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += ch;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// `?` -> `$n`, leaving quoted literals alone.
std::string numbered(const std::string& sql) {
  std::string out;
  int n = 0;
  bool quoted = false;
  for (char ch : sql) {
    if (ch == '\'') quoted = !quoted;
    if (ch == '?' && !quoted) {
      out += '$';
      out += std::to_string(++n);
    } else
      out += ch;
  }
  return out;
}

class PgConnection final : public Connection {
 public:
  explicit PgConnection(const std::string& url) : where_(without_password(url)) {
    conn_ = PQconnectdb(url.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = one_line(PQerrorMessage(conn_));
      PQfinish(conn_);
      conn_ = nullptr;
      throw Error("ledger: cannot connect to PostgreSQL '" + where_ + "': " + msg);
    }
    query("SET client_min_messages = warning");
  }
  ~PgConnection() override { PQfinish(conn_); }

  Dialect dialect() const override { return Dialect::postgres; }
  const std::string& where() const override { return where_; }

  Rows query(const std::string& sql, const std::vector<Value>& params = {}) override {
    std::vector<const char*> values(params.size());
    for (size_t i = 0; i < params.size(); ++i) values[i] = params[i] ? params[i]->c_str() : nullptr;
    PGresult* res = PQexecParams(conn_, numbered(sql).c_str(), int(params.size()), nullptr, values.data(), nullptr,
                                 nullptr, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string msg = one_line(PQresultErrorMessage(res));
      PQclear(res);
      throw Error("ledger: PostgreSQL '" + where_ + "': " + msg + " (in: " + sql.substr(0, 80) + ")");
    }
    Rows rows(size_t(PQntuples(res)));
    int cols = PQnfields(res);
    for (size_t r = 0; r < rows.size(); ++r) {
      rows[r].resize(size_t(cols));
      for (int c = 0; c < cols; ++c)
        if (!PQgetisnull(res, int(r), c))
          rows[r][size_t(c)] = std::string(PQgetvalue(res, int(r), c), size_t(PQgetlength(res, int(r), c)));
    }
    PQclear(res);
    return rows;
  }

  void begin_write() override { query("BEGIN"); }
  void commit() override { query("COMMIT"); }
  void rollback() override { query("ROLLBACK"); }
  void lock_account(int64_t account_id) override {
    query("SELECT pg_advisory_xact_lock(" + std::to_string(account_id) + ")");
  }
  // Blocks every insert into the ledger and counters until this transaction ends.
  void lock_everything() override { query("LOCK TABLE ledger, counters IN SHARE ROW EXCLUSIVE MODE"); }
  // The two-int advisory key space is apart from the account ids' bigint one.
  void lock_schema() override { query("SELECT pg_advisory_xact_lock(7583, 1)"); }

 private:
  std::string where_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Connection> open_postgres(const std::string& url) { return std::make_unique<PgConnection>(url); }

}  // namespace tessera::billing::db
