#include "securechannel/http_client.hpp"  // layer 0 reaching layer 3
