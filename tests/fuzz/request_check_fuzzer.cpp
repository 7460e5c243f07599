// find_request_problem against Beast's own parser: a request the check lets through, written as
// HTTP/1.1 and parsed back by a server's parser, is exactly one request with the same method,
// target and fields; a smuggled line would show as another field, another request or a parse
// error. Input: method, target, name, value separated by 0xff bytes.
#include "securechannel/http_request_check.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> parts(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0xff) {
      if (parts.size() == 4) break;
      parts.emplace_back();
    } else {
      parts.back().push_back(static_cast<char>(data[i]));
    }
  }
  parts.resize(4);
  securechannel::HttpRequest request;
  request.version(11);
  request.method_string(parts[0]);
  request.target(parts[1]);
  request.set(http::field::host, "example.com");
  try {
    request.set(parts[2], parts[3]);
  } catch (const std::exception&) {
    return 0;  // Beast refuses some names itself (an empty one)
  }
  if (securechannel::find_request_problem(request)) return 0;
  // The framing fields are HttpClient's own (prepare_payload writes them); a caller's value for
  // them is not what this checks.
  if (boost::beast::iequals(parts[2], "content-length") || boost::beast::iequals(parts[2], "transfer-encoding")) {
    return 0;
  }

  std::ostringstream wire;
  wire << request;
  const std::string bytes = wire.str() + "GET /canary HTTP/1.1\r\nHost: x\r\n\r\n";
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  boost::beast::error_code error;
  const std::size_t used = parser.put(boost::asio::buffer(bytes), error);
  if (error) std::abort();  // the check passed what a server's parser refuses
  if (!parser.is_done()) std::abort();
  const auto& parsed = parser.get();
  if (parsed.method_string() != request.method_string() || parsed.target() != request.target()) std::abort();
  std::size_t fields = 0;
  for (const auto& field : parsed) {
    (void)field;
    ++fields;
  }
  std::size_t sent = 0;
  for (const auto& field : request) {
    (void)field;
    ++sent;
  }
  if (fields != sent) std::abort();  // a field was split in two, or two were joined
  // What follows must be the canary request, untouched: nothing was smuggled in between.
  if (bytes.compare(used, std::string_view::npos, "GET /canary HTTP/1.1\r\nHost: x\r\n\r\n") != 0) std::abort();
  return 0;
}
