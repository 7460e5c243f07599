// The SPKI pin of a certificate file, for tests that pin a server (TlsOptions::pins).
#pragma once

#include <filesystem>
#include <string>

namespace securechannel::testing {

// The SPKI pin ("sha256//<base64>", TlsOptions::pins) of the certificate in a PEM file.
// Throws std::runtime_error when the file holds no certificate.
std::string spki_pin_of(const std::filesystem::path& certificate_file);

}  // namespace securechannel::testing
