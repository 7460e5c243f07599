#include "tls/trust_store.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

namespace securechannel::detail {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* certificate) const noexcept { X509_free(certificate); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

std::string system_bundle_path() {
  // Honour SSL_CERT_FILE like OpenSSL itself does, then OpenSSL's compiled-in default.
  if (const char* from_env = std::getenv(X509_get_default_cert_file_env()); from_env && *from_env) {
    return from_env;
  }
  return X509_get_default_cert_file();
}

std::string system_directory_path() {
  if (const char* from_env = std::getenv(X509_get_default_cert_dir_env()); from_env && *from_env) {
    return from_env;
  }
  return X509_get_default_cert_dir();
}

struct PemLoadResult {
  std::size_t loaded = 0;
  std::size_t skipped = 0;
};

// Reads certificates one by one so that a single bad entry costs only itself. A PEM block that
// fails to parse is skipped by searching for the next BEGIN line.
PemLoadResult add_pem_certificates(X509_STORE* store, BIO* bio) {
  PemLoadResult result;
  for (;;) {
    ERR_clear_error();
    X509Ptr certificate(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    if (!certificate) {
      const unsigned long error = ERR_peek_last_error();
      if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) break;
      if (BIO_eof(bio)) break;
      ++result.skipped;
      continue;  // PEM_read_bio_X509 has consumed the bad block; go on with the next one
    }
    if (X509_STORE_add_cert(store, certificate.get()) == 1) {
      ++result.loaded;
    } else {
      // Duplicates are common in bundles and harmless; anything else is a bad entry.
      const unsigned long error = ERR_peek_last_error();
      if (ERR_GET_REASON(error) != X509_R_CERT_ALREADY_IN_HASH_TABLE) ++result.skipped;
    }
  }
  ERR_clear_error();
  return result;
}

}  // namespace

bool load_system_trust_store(X509_STORE* store, TrustStoreReport& report) {
  const std::string bundle = system_bundle_path();
  std::error_code fs_error;
  if (std::filesystem::is_regular_file(bundle, fs_error)) {
    BioPtr bio(BIO_new_file(bundle.c_str(), "r"));
    if (bio) {
      const PemLoadResult result = add_pem_certificates(store, bio.get());
      report.system_store_source = bundle;
      report.system_certificates_loaded = result.loaded;
      report.system_certificates_skipped = result.skipped;
      if (result.skipped > 0) {
        spdlog::warn("securechannel: skipped {} unusable certificate(s) in system trust store {}",
                     result.skipped, bundle);
      }
      if (result.loaded > 0) return true;
    }
  }
  // No usable bundle: fall back to the hashed directory, which OpenSSL reads lazily at
  // verification time (a bad file there only fails the lookup that hits it).
  const std::string directory = system_directory_path();
  if (std::filesystem::is_directory(directory, fs_error) &&
      !std::filesystem::is_empty(directory, fs_error) && X509_STORE_load_path(store, directory.c_str()) == 1) {
    report.system_store_source = directory;
    return true;
  }
  ERR_clear_error();
  return false;
}

bool load_ca_file(X509_STORE* store, const std::string& path, std::size_t& loaded, std::string& error) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    error = "cannot read '" + path + "'";
    return false;
  }
  const PemLoadResult result = add_pem_certificates(store, bio.get());
  if (result.skipped > 0) {
    error = "'" + path + "' holds " + std::to_string(result.skipped) + " certificate(s) that do not parse";
    return false;
  }
  if (result.loaded == 0) {
    error = "'" + path + "' holds no PEM certificate";
    return false;
  }
  loaded = result.loaded;
  return true;
}

}  // namespace securechannel::detail
