// `scpool check-config FILE`: reads a pool file (docs/CONFIG.md) and builds every pool in it
// without connecting, so that a bad key, a missing CA file, a malformed pin or a client key that
// its passphrase does not open is found before the file is deployed.
#pragma once

#include <string>

namespace scpool {

// Checks a pool file (docs/CONFIG.md) or a daemon's file (docs/DAEMON.md: recognised by its
// [monitor], [log], [daemon] tables or its pools' listener and endpoints keys) without binding or
// connecting. Returns the process exit code: 0 when every pool builds, 2 otherwise (every problem
// on stderr).
int run_check_config(const std::string& path);

}  // namespace scpool
