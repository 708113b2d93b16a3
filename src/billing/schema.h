// The ledger's tables, created on open when missing (schema_version records
// which layout the file or database has).
#pragma once
#include "billing/db.h"

namespace tessera::billing {

constexpr int64_t kSchemaVersion = 1;
// Creates the tables and indexes when missing, in one write transaction; a
// database written by a newer Tessera (higher version) is an error.
void ensure_schema(db::Connection& c);

}  // namespace tessera::billing
