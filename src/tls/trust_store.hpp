// Loading trusted roots into an OpenSSL X509_STORE, tolerant of bad entries for the system store
// and strict for files the operator named.
#pragma once

#include "securechannel/client_tls_context.hpp"

#include <openssl/x509.h>

#include <string>

namespace securechannel::detail {

// Adds the operating system's roots. Entries that fail to parse or to be added are skipped and
// counted. Returns false only when no system store could be found at all.
bool load_system_trust_store(X509_STORE* store, TrustStoreReport& report);

// Adds every certificate of a PEM file; fails (with a reason) if the file cannot be read or
// holds no certificate, because a named CA file that silently trusts nothing is a trap.
bool load_ca_file(X509_STORE* store, const std::string& path, std::size_t& loaded, std::string& error);

}  // namespace securechannel::detail
