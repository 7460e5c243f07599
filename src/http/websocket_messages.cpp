// The message flow of a WebSocketSession: the background reader, the send queue and receives.
#include "http/websocket_session_impl.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/beast/core/buffers_to_string.hpp>

namespace securechannel::detail {

void WebSocketSession::start_read() {
  if (reading_ || state_ != State::open || inbox_.size() >= options_.max_queued_messages ||
      inbox_bytes_ >= options_.max_queued_bytes) {
    return;
  }
  reading_ = true;
  read_buffer_.clear();
  stream_->async_read(read_buffer_, asio::bind_executor(strand_, [self = shared_from_this()](error_code error, std::size_t) {
                        self->on_read(error);
                      }));
}

void WebSocketSession::on_read(error_code error) {
  reading_ = false;
  if (!error && stream_->got_text()) {
    const auto bytes = read_buffer_.data();
    if (ends_inside_code_point({static_cast<const char*>(bytes.data()), bytes.size()})) {
      error = websocket::error::bad_frame_payload;  // what Beast reports for the rest of RFC 6455 8.1
    }
  }
  if (error) {
    if (state_ == State::open) return on_connection_lost(drop_error(error));
    return after_operation();  // closing or draining: the end we were waiting for
  }
  WebSocketMessage message{stream_->got_text() ? WebSocketMessageType::text : WebSocketMessageType::binary,
                           boost::beast::buffers_to_string(read_buffer_.data())};
  add(counters_.messages_received);
  add(counters_.bytes_received, message.payload.size());
  if (!receivers_.empty()) {
    auto receiver = std::move(receivers_.front());
    receivers_.pop_front();
    complete(std::move(receiver), error_code{}, std::move(message));
  } else {
    inbox_bytes_ += message.payload.size();
    inbox_.push_back(std::move(message));
  }
  if (state_ == State::open) return start_read();
  after_operation();
}

void WebSocketSession::send(std::string payload, WebSocketMessageType type, WebSocketClient::SendHandler handler) {
  switch (state_) {
    case State::idle:
    case State::closed:
      return complete(std::move(handler), error_code(asio::error::not_connected), std::size_t{0});
    case State::closing:
      return complete(std::move(handler), error_code(asio::error::operation_aborted), std::size_t{0});
    case State::connecting:
    case State::open:
    case State::draining:
    case State::backing_off:
    case State::reconnecting:
      break;
  }
  sends_.push_back(PendingSend{std::move(payload), type, std::move(handler)});
  pump_sends();
}

void WebSocketSession::pump_sends() {
  if (writing_ || state_ != State::open || sends_.empty()) return;
  writing_ = true;
  const PendingSend& next = sends_.front();
  stream_->text(next.type == WebSocketMessageType::text);
  stream_->async_write(asio::buffer(next.payload),
                       asio::bind_executor(strand_, [self = shared_from_this()](error_code error, std::size_t) {
                         self->on_write(error);
                       }));
}

void WebSocketSession::on_write(error_code error) {
  writing_ = false;
  PendingSend sent = std::move(sends_.front());
  sends_.pop_front();
  if (error) {
    // This message may or may not have reached the peer; it is reported, never resent.
    complete(std::move(sent.handler), drop_error(error), std::size_t{0});
    if (state_ == State::open) return on_connection_lost(drop_error(error));
    return after_operation();
  }
  add(counters_.messages_sent);
  add(counters_.bytes_sent, sent.payload.size());
  complete(std::move(sent.handler), error_code{}, sent.payload.size());
  if (state_ == State::open) return pump_sends();
  after_operation();
}

void WebSocketSession::receive(WebSocketClient::ReceiveHandler handler) {
  if (!inbox_.empty()) {  // messages that arrived before a drop or a close are still delivered
    WebSocketMessage message = std::move(inbox_.front());
    inbox_.pop_front();
    inbox_bytes_ -= message.payload.size();
    complete(std::move(handler), error_code{}, std::move(message));
    return start_read();  // the reader may have paused on a full inbox
  }
  switch (state_) {
    case State::idle:
    case State::closed:
      return complete(std::move(handler), error_code(asio::error::not_connected), WebSocketMessage{});
    case State::closing:
      return complete(std::move(handler), error_code(asio::error::operation_aborted), WebSocketMessage{});
    case State::connecting:
    case State::open:
    case State::draining:
    case State::backing_off:
    case State::reconnecting:
      receivers_.push_back(std::move(handler));
      return;
  }
}


WebSocketStats session_stats(const WebSocketSession& session) {
  const Counters& counters = session.counters();
  constexpr auto relaxed = std::memory_order_relaxed;
  WebSocketStats stats;
  stats.messages_sent = counters.messages_sent.load(relaxed);
  stats.bytes_sent = counters.bytes_sent.load(relaxed);
  stats.messages_received = counters.messages_received.load(relaxed);
  stats.bytes_received = counters.bytes_received.load(relaxed);
  stats.reconnects = counters.reconnects.load(relaxed);
  stats.reconnect_failures = counters.reconnect_failures.load(relaxed);
  stats.connections_lost = counters.connections_lost.load(relaxed);
  stats.pings_received = counters.pings_received.load(relaxed);
  stats.pongs_received = counters.pongs_received.load(relaxed);
  stats.last_reconnect_delay = std::chrono::milliseconds(counters.last_reconnect_delay_ms.load(relaxed));
  stats.connected = counters.connected.load(relaxed);
  return stats;
}


}  // namespace securechannel::detail
