#include "securechannel/lease.hpp"

#include "securechannel/secure_channel_pool.hpp"

namespace securechannel {

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    connection_ = std::move(other.connection_);
    reused_ = other.reused_;
  }
  return *this;
}

void Lease::mark_broken() noexcept {
  if (connection_) connection_->mark_broken();
}

void Lease::release() noexcept {
  if (!connection_) return;
  auto pool = std::move(pool_);
  pool->release(std::move(connection_));
  connection_.reset();
}

}  // namespace securechannel
