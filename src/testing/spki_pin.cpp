#include "testing/spki_pin.hpp"

#include "tls/public_key_pins.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace securechannel::testing {

std::string spki_pin_of(const std::filesystem::path& certificate_file) {
  std::unique_ptr<FILE, int (*)(FILE*)> stream(std::fopen(certificate_file.c_str(), "r"), std::fclose);
  if (!stream) throw std::runtime_error("cannot open " + certificate_file.string());
  std::unique_ptr<X509, void (*)(X509*)> certificate(PEM_read_X509(stream.get(), nullptr, nullptr, nullptr), X509_free);
  if (!certificate) throw std::runtime_error(certificate_file.string() + " holds no PEM certificate");
  return detail::format_pin(detail::spki_digest(certificate.get()).value());
}

}  // namespace securechannel::testing
