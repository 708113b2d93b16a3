#include "billing/keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "tessera/core/error.h"

namespace tessera::billing {

std::string generate_api_key() {
  static const char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string key = "tsk-";
  unsigned char buf[64];
  while (key.size() < 44) {
    ssize_t got = getrandom(buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    TSR_CHECK(got > 0, Error, "create key: getrandom failed: ", std::strerror(errno));
    // Rejection sampling: 248 = 4 * 62, so every character is equally likely.
    for (ssize_t i = 0; i < got && key.size() < 44; ++i)
      if (buf[i] < 248) key += kAlphabet[buf[i] % 62];
  }
  return key;
}

std::string sha256_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  TSR_CHECK(EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr) == 1, Error,
            "api key: SHA-256 failed (OpenSSL EVP_Digest)");
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string key_display_prefix(const std::string& key) { return key.substr(0, 12); }

bool constant_time_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tessera::billing
