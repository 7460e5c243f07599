// Warmth and memory at rest: which idle connections keep their TLS buffers (WarmPolicy decides),
// and handing freed memory back to the OS once the pool has rested long enough.
#include "securechannel/secure_channel_pool.hpp"

#include "core/free_memory_release.hpp"
#include "pool/connection_books.hpp"
#include "pool/shutdown_state.hpp"
#include "pool/warm_policy.hpp"

namespace securechannel {

using boost::system::error_code;
using detail::PooledConnection;

void SecureChannelPool::cool_idle_beyond_warm_limit_locked() {
  if (books_->idle().size() <= warm_->warm_idle_limit()) return;
  const std::size_t beyond = books_->idle().size() - warm_->warm_idle_limit();
  for (std::size_t i = 0; i < beyond; ++i) cool_locked(*books_->idle()[i]);
}

void SecureChannelPool::cool_locked(PooledConnection& connection) {
  if (!connection.channel().warm()) return;
  connection.channel().set_warm(false);
  warm_->on_cooled();
}

void SecureChannelPool::release_memory_if_due_locked() {
  if (!detail::free_memory_release_supported || !config_.release_memory_at_rest || books_->leased() != 0 ||
      shutdown_->started || !warm_->memory_release_due()) {
    return;
  }
  arm_memory_release_timer_locked();
}

void SecureChannelPool::arm_memory_release_timer_locked() {
  warm_->arm_memory_release().async_wait([weak = weak_from_this(), acquires = counters_.acquires](error_code error) {
    if (auto self = weak.lock()) self->on_memory_release_timer(error, acquires);
  });
}

void SecureChannelPool::on_memory_release_timer(error_code error, std::uint64_t acquires_at_rest) {
  {
    std::lock_guard lock(mutex_);
    warm_->memory_release_fired();
    // Busy now: the cooled count stays, and the next rest arms the timer again.
    if (error || shutdown_->started || books_->leased() != 0) return;
    // At rest again after more work: the quiet period starts over from here.
    if (counters_.acquires != acquires_at_rest) return arm_memory_release_timer_locked();
  }
  // Outside the lock: the trim walks the allocator's arenas. Process-wide and paced; when
  // another release came just before, the next rest or maintenance pass tries again.
  if (!detail::release_free_memory(std::chrono::seconds(10))) return;
  std::lock_guard lock(mutex_);
  warm_->on_memory_released();
  ++counters_.memory_releases;
}

}  // namespace securechannel
