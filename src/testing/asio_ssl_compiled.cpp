// Boost.Asio's SSL implementation, compiled once for the test-support library (the project
// sets BOOST_ASIO_SEPARATE_COMPILATION; the core of Asio is in src/core/asio_compiled.cpp).
#include <boost/asio/ssl/impl/src.hpp>
