#include "daemon/forwarded_message.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace securechannel::daemon {

namespace http = boost::beast::http;

namespace {

// RFC 9110 7.6.1, plus the Proxy-Connection and Keep-Alive of older clients.
bool is_hop_by_hop(http::field name) {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// "http://host:port/path?q" -> "/path?q"; origin-form and "*" unchanged. Proxy-style clients send
// the absolute form; HTTP/2 carries the authority separately and wants only the path.
std::string origin_form(std::string_view target) {
  for (const std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() < scheme.size() || !boost::beast::iequals(target.substr(0, scheme.size()), scheme)) continue;
    const auto path = target.find_first_of("/?", scheme.size());
    if (path == std::string_view::npos) return "/";
    return (target[path] == '?' ? "/" : "") + std::string(target.substr(path));
  }
  return std::string(target);
}

}  // namespace

void strip_hop_by_hop(http::fields& fields) {
  // The names listed in Connection first: erasing Connection itself would lose them.
  std::vector<std::string> listed;
  const auto [first, last] = fields.equal_range(http::field::connection);
  for (auto field = first; field != last; ++field) {
    std::string_view tokens = field->value();
    while (!tokens.empty()) {
      const auto comma = tokens.find(',');
      const std::string_view token = trimmed(tokens.substr(0, comma));
      if (!token.empty()) listed.emplace_back(token);
      tokens = comma == std::string_view::npos ? std::string_view{} : tokens.substr(comma + 1);
    }
  }
  const auto is_listed = [&listed](std::string_view name) {
    return std::any_of(listed.begin(), listed.end(),
                       [name](const std::string& token) { return boost::beast::iequals(token, name); });
  };
  // One pass in field order, comparing the parser's field codes: a request has a handful of
  // fields, and a lookup per hop-by-hop name would cost more than reading them all once.
  for (auto field = fields.begin(); field != fields.end();) {
    if (is_hop_by_hop(field->name()) || (!listed.empty() && is_listed(field->name_string()))) {
      field = fields.erase(field);
    } else {
      ++field;
    }
  }
}

HttpRequest make_upstream_request(HttpRequest&& local, const UpstreamRequestSettings& settings) {
  HttpRequest upstream = std::move(local);
  // Copied only when it is forwarded: set() below replaces the field it points into.
  const std::string local_host(settings.add_forwarded_headers ? upstream[http::field::host] : boost::beast::string_view{});
  strip_hop_by_hop(upstream);
  upstream.erase(http::field::expect);
  upstream.erase(http::field::content_length);
  upstream.version(11);
  if (std::string origin = origin_form(upstream.target()); origin != upstream.target()) upstream.target(origin);
  upstream.set(http::field::host, settings.authority);
  if (settings.add_forwarded_headers) {
    const std::string_view earlier = upstream["X-Forwarded-For"];
    upstream.set("X-Forwarded-For",
                 earlier.empty() ? std::string(settings.client_address)
                                 : std::string(earlier) + ", " + std::string(settings.client_address));
    upstream.set("X-Forwarded-Proto", "http");
    if (!local_host.empty()) upstream.set("X-Forwarded-Host", local_host);
  }
  upstream.prepare_payload();
  return upstream;
}

HttpResponse make_local_response(HttpResponse&& upstream, bool head_request, bool keep_alive) {
  HttpResponse local = std::move(upstream);
  strip_hop_by_hop(local);
  local.version(11);
  const unsigned status = local.result_int();
  if (status < 200 || status == 204) {
    local.erase(http::field::content_length);  // RFC 9110 8.6: never on these
    local.body().clear();
  } else if (head_request || status == 304) {
    // The upstream's Content-Length describes the representation, not this (empty) body: keep it.
    local.body().clear();
  } else {
    local.content_length(local.body().size());
  }
  local.keep_alive(keep_alive);
  return local;
}

}  // namespace securechannel::daemon
