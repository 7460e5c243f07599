#include "securechannel/lease.hpp"

#include "securechannel/secure_channel_pool.hpp"

#include <utility>

namespace securechannel {

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    connection_ = std::exchange(other.connection_, nullptr);
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
  pool->release(*std::exchange(connection_, nullptr));
}

}  // namespace securechannel
