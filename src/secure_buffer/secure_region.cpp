#include "secure_buffer/secure_region.hpp"

#include "secure_buffer/memory_protection_registry.hpp"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <new>

namespace securechannel {
namespace {

constexpr std::size_t canary_size = 16;

// One random pattern per process: a stray write (or a zeroing bug) cannot restore it by chance.
// The byte expected at offset i of the data pages is pattern[i % canary_size].
const std::array<std::byte, canary_size>& canary_pattern() {
  static const std::array<std::byte, canary_size> pattern = [] {
    std::array<std::byte, canary_size> bytes{};
    std::size_t filled = 0;
    while (filled < bytes.size()) {
      const ssize_t got = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
      if (got > 0) {
        filled += static_cast<std::size_t>(got);
      } else if (errno != EINTR) {
        // No kernel entropy interface: a time-derived pattern still catches accidental overruns,
        // which is all a canary is for.
        auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        for (std::byte& byte : bytes) {
          seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
          byte = static_cast<std::byte>(seed >> 56);
        }
        break;
      }
    }
    // A zero pattern would not tell a wiped region from an intact one.
    if (bytes[0] == std::byte{0}) bytes[0] = std::byte{0xA5};
    return bytes;
  }();
  return pattern;
}

// The system call itself, not libc's mlock: the ASan and TSan runtimes intercept mlock and
// report success without locking anything, so locked() and the status would lie in those builds.
bool lock_pages(void* pages, std::size_t size) { return syscall(SYS_mlock, pages, size) == 0; }

std::size_t round_up(std::size_t value, std::size_t multiple) { return (value + multiple - 1) / multiple * multiple; }

}  // namespace

SecureBuffer::Region::Region(std::size_t secret_size) : page_size(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))) {
  if (secret_size > (std::size_t{1} << 40)) throw std::bad_alloc();  // also keeps the sums below from wrapping
  size = secret_size;
  data_size = round_up(secret_size + 2 * canary_size, page_size);
  mapping_size = data_size + 2 * page_size;
  void* mapped = mmap(nullptr, mapping_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  mapping = static_cast<std::byte*>(mapped);
  data = mapping + page_size;
  // The guard pages keep PROT_NONE; only the data pages between them become accessible.
  if (mprotect(data, data_size, PROT_READ | PROT_WRITE) != 0) {
    munmap(mapping, mapping_size);
    throw std::bad_alloc();
  }
  // Best effort: a kernel without MADV_DONTDUMP (before 3.4) still gives us locked memory.
  madvise(data, data_size, MADV_DONTDUMP);
  // Refused under a low RLIMIT_MEMLOCK without CAP_IPC_LOCK: the buffer works unlocked and says so.
  locked = lock_pages(data, data_size);
  secret = data + data_size - canary_size - size;
  const auto& pattern = canary_pattern();
  for (std::size_t offset = 0; offset < data_size; ++offset) {
    if (data + offset == secret) offset += size;  // the secret itself stays zero (fresh mapping)
    if (offset < data_size) data[offset] = pattern[offset % canary_size];
  }
  try {
    detail::register_region(*this);
  } catch (...) {  // the registry could not grow: give the pages back before reporting it
    if (locked) syscall(SYS_munlock, data, data_size);
    munmap(mapping, mapping_size);
    throw;
  }
}

SecureBuffer::Region::~Region() {
  detail::unregister_region(*this);
  // Canaries too: nothing of the region should outlive it in RAM, and the test hook checks all of it.
  OPENSSL_cleanse(data, data_size);
  detail::inspect_wiped_pages({data, data_size});
  if (locked) syscall(SYS_munlock, data, data_size);
  munmap(mapping, mapping_size);
}

bool SecureBuffer::Region::canaries_intact() const noexcept {
  const auto& pattern = canary_pattern();
  unsigned difference = 0;
  const std::size_t secret_offset = static_cast<std::size_t>(secret - data);
  for (std::size_t offset = 0; offset < data_size; ++offset) {
    if (offset == secret_offset) {
      offset += size;
      if (offset >= data_size) break;
    }
    difference |= std::to_integer<unsigned>(data[offset] ^ pattern[offset % canary_size]);
  }
  return difference == 0;
}

}  // namespace securechannel
