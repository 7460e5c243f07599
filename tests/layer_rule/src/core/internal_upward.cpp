#  include <pool/lease_internals.hpp>  // layer 0 reaching layer 2, in the other spelling
