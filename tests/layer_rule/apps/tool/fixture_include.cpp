#include "testing/process_info.hpp"  // a fixture in a program
