#include "securechannel/securechannel.h"

// SC_VERSION comes from the project's version (src/CMakeLists.txt).
extern "C" const char* sc_version(void) { return SC_VERSION; }
