#include "testing/revocation.hpp"

#include "core/rfc3339.hpp"

#include "demo/child_process.hpp"

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>

namespace securechannel::testing {

namespace {

using namespace std::chrono_literals;

// `days_ago` > 0 runs openssl with its clock set back (faketime preloads libfaketime).
demo::CompletedProcess openssl(const std::vector<std::string>& arguments, int days_ago = 0) {
  std::vector<std::string> command;
  if (days_ago > 0) command = {"/usr/bin/faketime", "-" + std::to_string(days_ago) + " days"};
  command.push_back("/usr/bin/openssl");
  command.insert(command.end(), arguments.begin(), arguments.end());
  demo::CompletedProcess done = demo::run_to_completion(command, "", 10s);
  if (done.exit_code() != 0) {
    throw std::runtime_error("openssl " + arguments.front() + " " + done.description() + ": " + done.standard_error);
  }
  return done;
}

// "YYMMDDHHMMSSZ", the time format of `openssl ca`'s index file.
std::string index_time(std::chrono::system_clock::time_point when) {
  return detail::utc_text(when, "%y%m%d%H%M%SZ");
}

// The index file `openssl ocsp` and `openssl ca` read: one line for `leaf` in `status`.
std::filesystem::path write_index(const demo::IssuedCertificate& leaf, OcspStatus status, const std::filesystem::path& index) {
  // "serial=0A1B...": the index names the certificate by its serial number in hex.
  std::string serial = openssl({"x509", "-in", leaf.certificate_file.string(), "-noout", "-serial"}).standard_output;
  serial = serial.substr(serial.find('=') + 1);
  while (!serial.empty() && (serial.back() == '\n' || serial.back() == '\r')) serial.pop_back();
  const auto now = std::chrono::system_clock::now();
  std::ofstream file(index, std::ios::trunc);
  const std::string expires = index_time(now + 24h * 30);
  if (status == OcspStatus::good) file << "V\t" << expires << "\t\t" << serial << "\tunknown\t/CN=leaf\n";
  if (status == OcspStatus::revoked) {
    file << "R\t" << expires << "\t" << index_time(now - 1h) << ",keyCompromise\t" << serial << "\tunknown\t/CN=leaf\n";
  }
  // unknown: the index does not list the serial.
  return index;
}

}  // namespace

std::filesystem::path write_ocsp_response(const demo::CertificateAuthority& signer, const demo::IssuedCertificate& leaf,
                                          OcspStatus status, const std::filesystem::path& output,
                                          int signed_days_ago) {
  const auto index = write_index(leaf, status, output.string() + ".index");
  openssl({"ocsp", "-index", index.string(), "-rsigner", signer.ca_certificate_file().string(), "-rkey",
           signer.ca_key_file().string(), "-CA", signer.ca_certificate_file().string(), "-issuer",
           signer.ca_certificate_file().string(), "-cert", leaf.certificate_file.string(), "-respout",
           output.string(), "-ndays", "1"},
          signed_days_ago);
  return output;
}

std::filesystem::path write_crl(const demo::CertificateAuthority& signer, const demo::IssuedCertificate& revoked,
                                const std::filesystem::path& output) {
  const auto index = write_index(revoked, OcspStatus::revoked, output.string() + ".index");
  const std::filesystem::path number = output.string() + ".number";
  std::ofstream(number, std::ios::trunc) << "01\n";
  const std::filesystem::path config = output.string() + ".cnf";
  std::ofstream(config, std::ios::trunc) << "[ca]\ndefault_ca = authority\n[authority]\ndatabase = " << index.string()
                                         << "\ncrlnumber = " << number.string()
                                         << "\ndefault_md = sha256\ndefault_crl_days = 1\n";
  openssl({"ca", "-gencrl", "-config", config.string(), "-keyfile", signer.ca_key_file().string(), "-cert",
           signer.ca_certificate_file().string(), "-out", output.string()});
  return output;
}

}  // namespace securechannel::testing
