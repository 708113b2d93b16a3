// API key material: random keys from the kernel, SHA-256 digests for storage,
// constant-time comparison. The plaintext key exists only in the caller's hands.
#pragma once
#include <string>

namespace tessera::billing {

// "tsk-" + 40 base62 characters (~238 bits) from getrandom().
std::string generate_api_key();
// Lower-case hex SHA-256 of the key text (what the database stores).
std::string sha256_hex(const std::string& text);
// The shown, stored prefix: "tsk-" + 8 characters.
std::string key_display_prefix(const std::string& key);
// Equal length and bytes, in time independent of where they differ.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace tessera::billing
