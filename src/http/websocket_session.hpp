// The state behind a WebSocketClient: a Beast WebSocket over a Lease, driven on a strand. Kept
// out of the public header so that only websocket_session.cpp and websocket_messages.cpp
// instantiate Beast's WebSocket templates (they are the slow part of the build).
#pragma once

#include "securechannel/websocket_client.hpp"

#include <memory>
#include <string>

namespace securechannel::detail {

class WebSocketSession;

std::shared_ptr<WebSocketSession> make_websocket_session(std::shared_ptr<SecureChannelPool> pool,
                                                         WebSocketClientOptions options);

// Each posts to the session's strand; the handler is never invoked inline.
void post_connect(const std::shared_ptr<WebSocketSession>& session, std::string target,
                  WebSocketClient::ConnectHandler handler);
void post_send(const std::shared_ptr<WebSocketSession>& session, std::string payload, WebSocketMessageType type,
               WebSocketClient::SendHandler handler);
void post_receive(const std::shared_ptr<WebSocketSession>& session, WebSocketClient::ReceiveHandler handler);
void post_close(const std::shared_ptr<WebSocketSession>& session, WebSocketClient::CloseHandler handler);
// The client is gone: abort the connection and fail everything pending with operation_aborted.
void post_abandon(const std::shared_ptr<WebSocketSession>& session);

WebSocketStats session_stats(const WebSocketSession& session);

}  // namespace securechannel::detail
