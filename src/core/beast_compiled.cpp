// The one translation unit that compiles Boost.Beast's non-template parts (the parser, error
// categories, field tables): BOOST_BEAST_SEPARATE_COMPILATION is set for the whole project.
#include <boost/beast/src.hpp>
