#include "tls/peer_certificate.hpp"

#include <openssl/asn1.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>

namespace securechannel::detail {

std::string name_text(const X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (!out || X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_RFC2253) < 0) return "?";
  char* data = nullptr;
  const long length = BIO_get_mem_data(out.get(), &data);
  return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string("(empty name)");
}

std::optional<std::chrono::system_clock::time_point> certificate_not_after(const X509* certificate) {
  std::tm expiry{};
  if (certificate == nullptr || ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &expiry) != 1) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&expiry));
}

std::optional<std::chrono::system_clock::time_point> peer_leaf_not_after(const ssl_st* ssl) {
  return certificate_not_after(ssl != nullptr ? SSL_get0_peer_certificate(ssl) : nullptr);
}

std::string describe_sent_chain(const ssl_st* ssl) {
  // The stack is the session's; OpenSSL keeps it after a failed verification.
  const STACK_OF(X509)* sent = ssl != nullptr ? SSL_get_peer_cert_chain(ssl) : nullptr;
  const int count = sent != nullptr ? sk_X509_num(sent) : 0;
  if (count == 0) return "";
  std::string text = "the server sent " + std::to_string(count) + (count == 1 ? " certificate:" : " certificates:");
  for (int i = 0; i < count; ++i) {
    const X509* certificate = sk_X509_value(sent, i);
    text += (i == 0 ? " [" : "; [") + std::to_string(i) + "] " + name_text(X509_get_subject_name(certificate)) +
            ", issued by " + name_text(X509_get_issuer_name(certificate));
  }
  return text;
}

}  // namespace securechannel::detail
