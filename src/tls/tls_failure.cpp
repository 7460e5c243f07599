#include "securechannel/tls_failure.hpp"

#include <string>

namespace securechannel {

std::string TlsFailure::describe() const {
  if (verify_result == 0) return reason;
  return "certificate verify failed (verify result " + std::to_string(verify_result) + ": " + reason +
         (peer_chain.empty() ? ")" : "; " + peer_chain + ")");
}

}  // namespace securechannel
