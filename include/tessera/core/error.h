// tessera::Error: the one exception type the library throws. Messages name the
// op, file, key or shape involved and what was expected, so the CLI can print a
// single line and exit non-zero.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tessera {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};
class ShapeError : public Error { using Error::Error; };
class DTypeError : public Error { using Error::Error; };
class DeviceError : public Error { using Error::Error; };
class IndexError : public Error { using Error::Error; };
class AutogradError : public Error { using Error::Error; };

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace tessera

// TSR_CHECK(cond, ErrorType, message parts...): throw ErrorType(message) unless cond.
#define TSR_CHECK(cond, ErrType, ...)                                  \
  do {                                                                 \
    if (!(cond)) throw ErrType(::tessera::detail::concat(__VA_ARGS__)); \
  } while (0)
