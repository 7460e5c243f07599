// Passphrase-protected copies of the test CA's keys, for the mTLS tests: the same key, written
// as encrypted PKCS#8 PEM (AES-256-CBC, the way `openssl pkey -aes256` writes it).
//
//   auto client = ca.issue("client");
//   auto encrypted = securechannel::testing::write_encrypted_key(client.key_file, "correct horse",
//                                                                ca.directory() / "client-encrypted.key");
#pragma once

#include <filesystem>
#include <string>

namespace securechannel::testing {

// Reads the unencrypted PEM key at `key_file` and writes it to `destination` encrypted with
// `passphrase`; returns `destination`. Throws std::runtime_error with OpenSSL's reason on failure.
std::filesystem::path write_encrypted_key(const std::filesystem::path& key_file, const std::string& passphrase,
                                          const std::filesystem::path& destination);

}  // namespace securechannel::testing
