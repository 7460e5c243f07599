#include "securechannel/http_message.hpp"

namespace securechannel {

bool is_idempotent(boost::beast::http::verb method) noexcept {
  using boost::beast::http::verb;
  switch (method) {
    case verb::get:
    case verb::head:
    case verb::options:
    case verb::trace:
    case verb::put:
    case verb::delete_:
      return true;
    default:
      return false;
  }
}

}  // namespace securechannel
