// `scpool check-config FILE`: reads a pool file (docs/CONFIG.md) and builds every pool in it
// without connecting, so that a bad key, a missing CA file, a malformed pin or a client key that
// its passphrase does not open is found before the file is deployed.
#pragma once

#include <string>

namespace scpool {

// Returns the process exit code: 0 when every pool builds, 2 otherwise (the problem on stderr).
int run_check_config(const std::string& path);

}  // namespace scpool
