#include "securechannel/websocket_client.hpp"

#include "http/websocket_session.hpp"

#include <utility>

namespace securechannel {

WebSocketClient::WebSocketClient(std::shared_ptr<SecureChannelPool> pool, WebSocketClientOptions options)
    : session_(detail::make_websocket_session(std::move(pool), std::move(options))) {}

WebSocketClient::~WebSocketClient() {
  if (session_) detail::post_abandon(session_);  // empty after a move
}

void WebSocketClient::start_connect(const std::shared_ptr<detail::WebSocketSession>& session, std::string target,
                                    ConnectHandler handler) {
  detail::post_connect(session, std::move(target), std::move(handler));
}

void WebSocketClient::start_send(const std::shared_ptr<detail::WebSocketSession>& session, std::string payload,
                                 WebSocketMessageType type, SendHandler handler) {
  detail::post_send(session, std::move(payload), type, std::move(handler));
}

void WebSocketClient::start_receive(const std::shared_ptr<detail::WebSocketSession>& session, ReceiveHandler handler) {
  detail::post_receive(session, std::move(handler));
}

void WebSocketClient::start_close(const std::shared_ptr<detail::WebSocketSession>& session, CloseHandler handler) {
  detail::post_close(session, std::move(handler));
}

WebSocketStats WebSocketClient::stats() const { return detail::session_stats(*session_); }

}  // namespace securechannel
