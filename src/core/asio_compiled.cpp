// The one translation unit that compiles Boost.Asio (BOOST_ASIO_SEPARATE_COMPILATION is set
// for the whole project), so that no other file pays for Asio's implementation again.
#include <boost/asio/impl/src.hpp>
