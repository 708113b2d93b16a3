// Integer money: costs in 128-bit arithmetic, decimal strings parsed exactly.
#include "tessera/billing/money.h"

#include <cstdio>
#include <limits>

#include "tessera/billing/ledger.h"
#include "tessera/core/error.h"

namespace tessera::billing {

int64_t cost_micros(const Price& price, int64_t prompt_tokens, int64_t completion_tokens) {
  TSR_CHECK(prompt_tokens >= 0 && completion_tokens >= 0, Error, "cost_micros: negative token count (prompt ",
            prompt_tokens, ", completion ", completion_tokens, ")");
  TSR_CHECK(price.input_micros_per_mtok >= 0 && price.output_micros_per_mtok >= 0, Error,
            "cost_micros: negative price for model '", price.model, "'");
  using i128 = __int128;
  i128 num = i128(prompt_tokens) * price.input_micros_per_mtok + i128(completion_tokens) * price.output_micros_per_mtok;
  i128 cost = (num + 999999) / 1000000;
  TSR_CHECK(cost <= std::numeric_limits<int64_t>::max(), Error, "cost_micros: cost of ", prompt_tokens, " + ",
            completion_tokens, " tokens of '", price.model, "' overflows 64-bit micro-units");
  return int64_t(cost);
}

bool Plan::allows(const std::string& model) const {
  if (allowed_models.empty()) return true;
  for (const auto& m : allowed_models)
    if (m == model || m == "*") return true;
  return false;
}

int64_t parse_micros(const std::string& text, const std::string& what) {
  auto bad = [&](const char* why) {
    return Error(what + ": '" + text + "' is not a decimal amount (" + why + "; e.g. 12, 0.50 or 0.000001)");
  };
  size_t dot = text.find('.');
  std::string whole = text.substr(0, dot), frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (whole.empty() && frac.empty()) throw bad("empty");
  if (dot != std::string::npos && frac.empty()) throw bad("no digits after the point");
  for (char c : whole + frac)
    if (c < '0' || c > '9') throw bad("only digits and one '.'");
  while (frac.size() > 6 && frac.back() == '0') frac.pop_back();
  if (frac.size() > 6) throw bad("more than 6 decimals: finer than one micro-unit");
  frac.resize(6, '0');
  __int128 v = 0;
  for (char c : whole + frac) {
    v = v * 10 + (c - '0');
    if (v > std::numeric_limits<int64_t>::max()) throw bad("too large");
  }
  return int64_t(v);
}

std::string format_micros(int64_t micros) {
  bool neg = micros < 0;
  unsigned __int128 m = neg ? (unsigned __int128)(-(__int128)micros) : (unsigned __int128)micros;
  std::string frac = std::to_string(uint64_t(m % 1000000));
  frac.insert(0, 6 - frac.size(), '0');
  std::string out = neg ? "-" : "";
  out += std::to_string(uint64_t(m / 1000000));
  out += '.';
  out += frac;
  return out;
}

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

namespace {
struct Civil {
  int64_t y;
  unsigned m, d;
};
Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = unsigned(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {int64_t(yoe) + era * 400 + (m <= 2), m, d};
}
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
constexpr int64_t kDayMs = 86400000;
}  // namespace

int64_t parse_day_or_unix(const std::string& text, const std::string& what) {
  auto digits = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (digits(text) && text.size() <= 12) return std::stoll(text);
  if (text.size() == 10 && text[4] == '-' && text[7] == '-' && digits(text.substr(0, 4)) && digits(text.substr(5, 2)) &&
      digits(text.substr(8, 2))) {
    int64_t y = std::stoll(text.substr(0, 4));
    unsigned m = unsigned(std::stoi(text.substr(5, 2))), d = unsigned(std::stoi(text.substr(8, 2)));
    int64_t days = days_from_civil(y, m, d);
    Civil back = civil_from_days(days);
    if (m >= 1 && m <= 12 && d >= 1 && back.y == y && back.m == m && back.d == d) return days * 86400;
  }
  throw Error(what + ": '" + text + "' is not a date (expected YYYY-MM-DD, UTC, or unix seconds)");
}

std::string format_day(int64_t unix_ms) {
  Civil c = civil_from_days(floor_div(unix_ms, kDayMs));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(c.y), c.m, c.d);
  return buf;
}

int64_t period_start_ms(const std::string& period, int64_t ts_ms) {
  if (period == "total") return 0;
  int64_t day = floor_div(ts_ms, kDayMs);
  if (period == "day") return day * kDayMs;
  TSR_CHECK(period == "month", Error, "plan period '", period, "' (expected day, month or total)");
  Civil c = civil_from_days(day);
  return days_from_civil(c.y, c.m, 1) * kDayMs;
}

int64_t period_end_ms(const std::string& period, int64_t ts_ms) {
  if (period == "total") return std::numeric_limits<int64_t>::max();
  int64_t start = period_start_ms(period, ts_ms);
  if (period == "day") return start + kDayMs;
  Civil c = civil_from_days(floor_div(start, kDayMs));
  return (c.m == 12 ? days_from_civil(c.y + 1, 1, 1) : days_from_civil(c.y, c.m + 1, 1)) * kDayMs;
}

}  // namespace tessera::billing
