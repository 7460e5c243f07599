// Boost.Asio's SSL implementation, compiled once (the project sets BOOST_ASIO_SEPARATE_COMPILATION;
// the core of Asio is in asio_compiled.cpp). The library's own connections use channel/tls_stream;
// asio::ssl serves the monitoring server's HTTPS and the test fixtures.
#include <boost/asio/ssl/impl/src.hpp>
