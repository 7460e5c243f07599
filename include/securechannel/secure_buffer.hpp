// Memory for secrets: client private keys, their passphrases, the metrics auth token.
//
// The bytes live in their own page-aligned mapping, with an inaccessible guard page on each side
// (an overrun faults instead of reading a neighbour), locked in RAM with mlock (never written to
// swap), excluded from core dumps (MADV_DONTDUMP), framed by canaries that self_check() verifies,
// and wiped with a clear the compiler cannot elide when the buffer is destroyed.
//
//   securechannel::SecureBuffer key = securechannel::SecureBuffer::from_file(path, error);
//   key.read([](std::span<const std::byte> bytes) { load_into_openssl(bytes); });
//   // ~SecureBuffer wipes, unlocks and unmaps
//
// When mlock is refused (RLIMIT_MEMLOCK too low, common in containers) the buffer still works,
// unlocked, and locked() says so; memory_protection_status() reports `enabled: false` instead of
// the process failing.
//
// Thread safety: any number of concurrent readers, or one writer (a shared mutex per buffer).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace securechannel {

class SecureBuffer;

namespace detail {
// Test hooks (tests/unit/secure_buffer_test.cpp): a buffer's pages, so a death test can touch a
// guard page, and a process-wide inspector that sees the data pages of every buffer destroyed
// after they were wiped and before they are unmapped (afterwards they cannot be read at all).
struct SecureBufferPages {
  const std::byte* leading_guard = nullptr;   // PROT_NONE page before the data pages
  const std::byte* data = nullptr;            // first data page: canaries, the secret, canaries
  std::size_t data_size = 0;                  // whole pages
  const std::byte* trailing_guard = nullptr;  // PROT_NONE page after the data pages
};
SecureBufferPages pages_of(const SecureBuffer& buffer) noexcept;  // all null for an empty buffer
using WipeInspector = void (*)(std::span<const std::byte> wiped_data_pages);
void set_wipe_inspector(WipeInspector inspector) noexcept;  // nullptr removes it
}  // namespace detail

struct MemoryProtectionStatus {
  bool enabled = false;             // every live buffer is locked in RAM (mlock succeeded)
  bool self_check = false;          // every live buffer's canaries are intact
  bool secure_buffers = false;      // at least one SecureBuffer is in use
  std::size_t buffers = 0;          // live SecureBuffers
  std::size_t locked_bytes = 0;     // bytes held locked (whole pages, guard pages excluded)
  std::size_t mlock_failures = 0;   // buffers that could not be locked since start
};

class SecureBuffer {
 public:
  SecureBuffer() noexcept;  // empty, owns nothing
  // A buffer of `size` zero bytes. Throws std::bad_alloc only when the mapping itself fails.
  explicit SecureBuffer(std::size_t size);
  // Copies `bytes` in. The caller should wipe its own copy (secure_wipe) afterwards.
  static SecureBuffer copy_of(std::string_view bytes);
  // Reads a whole file straight into locked memory (no intermediate std::string). On failure
  // returns an empty buffer and fills `error` ("cannot read <path>: <reason>").
  static SecureBuffer from_file(const std::string& path, std::string& error);

  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  ~SecureBuffer();  // wipes, unlocks, unmaps

  std::size_t size() const noexcept;
  bool empty() const noexcept { return size() == 0; }
  bool locked() const noexcept;  // mlock succeeded for this buffer

  // Shared access: concurrent readers allowed.
  void read(const std::function<void(std::span<const std::byte>)>& reader) const;
  // Exclusive access.
  void write(const std::function<void(std::span<std::byte>)>& writer);
  // Constant-time comparison with `candidate` (for tokens); false when sizes differ.
  bool equals(std::string_view candidate) const;
  // Canaries around the secret are intact.
  bool self_check() const;

  // Wipes explicitly (the buffer keeps its size, all zero).
  void wipe();

  struct Region;  // defined in src/secure_buffer/secure_region.hpp

 private:
  friend detail::SecureBufferPages detail::pages_of(const SecureBuffer& buffer) noexcept;

  std::unique_ptr<Region> region_;
};

// A secret shared read-only by the objects that need it (a pool's config, the TLS context that
// re-reads the client key on reload, the monitoring server): copies of a config then share one
// locked buffer instead of each holding the bytes in a plain std::string. Null means "none".
using SharedSecret = std::shared_ptr<const SecureBuffer>;

// Copies `bytes` into a new SharedSecret (null when empty). The caller wipes its own copy.
SharedSecret make_shared_secret(std::string_view bytes);
// Copies `text` into a new SharedSecret (null when empty) and wipes `text`.
SharedSecret take_secret(std::string& text);
// Reads a secret file (a token or passphrase, as systemd credentials and Kubernetes secrets
// write them) into a SharedSecret; one trailing "\n" or "\r\n" is not part of the secret. On
// failure returns null and fills `error` ("cannot read <path>: <reason>", or "<path> is empty").
SharedSecret read_secret_file(const std::string& path, std::string& error);

// Overwrites `bytes` in a way the optimizer must keep (OPENSSL_cleanse).
void secure_wipe(void* bytes, std::size_t size) noexcept;
void secure_wipe(std::string& text) noexcept;

// Process-wide view of all live SecureBuffers, for the monitoring server's status.
MemoryProtectionStatus memory_protection_status();

}  // namespace securechannel
