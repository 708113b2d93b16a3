// Exact money and calendar helpers shared by the ledger and the CLI: decimal
// strings <-> integer micro-units, UTC days and billing periods.
#pragma once
#include <cstdint>
#include <string>

namespace tessera::billing {

// "12", "0.50", "3.141593" -> micro-units, exactly; more than 6 decimals,
// a sign, exponents or junk throw tessera::Error naming `what` and the text.
int64_t parse_micros(const std::string& decimal, const std::string& what = "amount");
// 1234567 -> "1.234567"; -5 -> "-0.000005".
std::string format_micros(int64_t micros);

// Days since 1970-01-01 <-> civil date (proleptic Gregorian, UTC).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
// "YYYY-MM-DD" (UTC midnight) or unix seconds -> unix seconds; bad text throws naming `what`.
int64_t parse_day_or_unix(const std::string& text, const std::string& what = "date");
// unix milliseconds -> "YYYY-MM-DD" (UTC).
std::string format_day(int64_t unix_ms);

// Start and end (unix ms) of the billing period holding ts_ms: "day" and
// "month" are UTC calendar periods, "total" is [0, max).
int64_t period_start_ms(const std::string& period, int64_t ts_ms);
int64_t period_end_ms(const std::string& period, int64_t ts_ms);

}  // namespace tessera::billing
