#include "pool/lease_internals.hpp"  // the demo uses public headers only
