// The ledger contract suite runs once per backend: SQLite (always, on a tmpfs
// file when /dev/shm exists: synchronous=FULL fsyncs are slow on disks) and
// PostgreSQL (when TESSERA_TEST_PG_URL names a database; ctest's
// ledger_postgres test starts a throwaway cluster for it). Each test starts
// from an empty schema.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "billing/db.h"
#include "tessera/billing/ledger.h"

namespace tessera::test_util {

inline std::string scratch_db_path(const std::string& tag) {
  static std::atomic<int> counter{0};
  std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  return (dir / ("tessera-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".db")).string();
}

inline void remove_sqlite_files(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix);
}

class LedgerContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      const char* url = std::getenv("TESSERA_TEST_PG_URL");
      if (!url || !*url)
        GTEST_SKIP() << "PostgreSQL ledger tests skipped: TESSERA_TEST_PG_URL is not set (ctest's ledger_postgres "
                        "sets it from scripts/pg_test_cluster.sh, which needs the postgresql-15 server binaries)";
      db_ = url;
      auto c = billing::db::open_postgres(db_);
      c->query("DROP TABLE IF EXISTS ledger, counters, api_keys, accounts, plans, prices, costs, schema_version CASCADE");
    } else {
      db_ = scratch_db_path("ledger");
    }
  }
  void TearDown() override {
    if (GetParam() == "sqlite" && !db_.empty()) remove_sqlite_files(db_);
  }
  std::unique_ptr<billing::Ledger> open(const std::string& instance = "test") {
    return billing::Ledger::open(db_, instance);
  }
  // A raw connection for looking at the rows themselves.
  std::unique_ptr<billing::db::Connection> raw() {
    return GetParam() == "postgres" ? billing::db::open_postgres(db_) : billing::db::open_sqlite(db_);
  }
  std::string db_;
};

}  // namespace tessera::test_util
