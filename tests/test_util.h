// Helpers shared by the unit tests: checking that a call throws an error of
// the right type whose message names what it should, and comparing tensors.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::test_util {

// The message of the E thrown by f(); records a failure if none is thrown.
template <typename E = Error, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

inline bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// f() must throw E with every one of `parts` in its message.
template <typename E, typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an exception containing '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const E& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_TRUE(has(msg, p)) << "missing '" << p << "' in: " << msg;
  }
}
template <typename E, typename F>
void expect_error(F&& f, const char* part) {
  expect_error<E>(std::forward<F>(f), std::vector<std::string>{part});
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

}  // namespace tessera::test_util
