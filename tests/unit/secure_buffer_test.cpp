// SecureBuffer: contents, wiping (seen through the wipe inspector before the pages are unmapped),
// guard pages that kill the process, canaries, concurrent readers and writers (run under TSan in
// CI), the RLIMIT_MEMLOCK fallback, constant-time equals and from_file's errors.
#include "demo/child_process.hpp"
#include "securechannel/secure_buffer.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

std::string contents(const SecureBuffer& buffer) {
  std::string text;
  buffer.read([&](std::span<const std::byte> bytes) {
    text.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  });
  return text;
}

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte byte) { return byte == std::byte{0}; });
}

// What the wipe inspector saw of the one buffer a test watches (tests run one at a time).
struct WatchedWipe {
  const std::byte* pages = nullptr;
  std::atomic<int> seen{0};
  std::atomic<bool> zero{false};
  std::size_t size = 0;
};
WatchedWipe watched;

void inspect(std::span<const std::byte> pages) {
  if (pages.data() != watched.pages) return;
  watched.size = pages.size();
  watched.zero = all_zero(pages);
  ++watched.seen;
}

class WipeInspection : public ::testing::Test {
 protected:
  void SetUp() override {
    watched.pages = nullptr;
    watched.seen = 0;
    watched.zero = false;
    watched.size = 0;
    detail::set_wipe_inspector(inspect);
  }
  void TearDown() override { detail::set_wipe_inspector(nullptr); }
};

TEST(SecureBufferTest, HoldsWhatIsWrittenAndStartsZeroed) {
  SecureBuffer buffer(32);
  EXPECT_EQ(buffer.size(), 32u);
  EXPECT_EQ(contents(buffer), std::string(32, '\0'));
  buffer.write([](std::span<std::byte> bytes) { std::fill(bytes.begin(), bytes.end(), std::byte{'k'}); });
  EXPECT_EQ(contents(buffer), std::string(32, 'k'));
  EXPECT_EQ(contents(SecureBuffer::copy_of("passphrase")), "passphrase");
  EXPECT_TRUE(buffer.self_check());
}

TEST(SecureBufferTest, AnEmptyBufferOwnsNothingAndStillAnswers) {
  SecureBuffer none;
  SecureBuffer zero(0);
  for (const SecureBuffer* buffer : {&none, &zero}) {
    EXPECT_TRUE(buffer->empty());
    EXPECT_FALSE(buffer->locked());
    EXPECT_TRUE(buffer->self_check());
    EXPECT_TRUE(buffer->equals(""));
    EXPECT_FALSE(buffer->equals("x"));
    EXPECT_EQ(contents(*buffer), "");
    EXPECT_EQ(detail::pages_of(*buffer).data, nullptr);
  }
}

TEST(SecureBufferTest, IsLockedPageAlignedAndBetweenGuardPages) {
  const SecureBuffer buffer = SecureBuffer::copy_of("token");
  EXPECT_TRUE(buffer.locked()) << "RLIMIT_MEMLOCK (8 MB on Debian) has room for one page";
  const detail::SecureBufferPages pages = detail::pages_of(buffer);
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pages.data) % page, 0u);
  EXPECT_EQ(pages.data_size, page);
  EXPECT_EQ(pages.leading_guard + page, pages.data);
  EXPECT_EQ(pages.data + pages.data_size, pages.trailing_guard);
  // The secret is inside the data pages.
  buffer.read([&](std::span<const std::byte> bytes) {
    EXPECT_GE(bytes.data(), pages.data);
    EXPECT_LE(bytes.data() + bytes.size(), pages.trailing_guard);
  });
}

TEST_F(WipeInspection, DestructionWipesEveryDataPageBeforeUnmapping) {
  auto buffer = std::make_unique<SecureBuffer>(SecureBuffer::copy_of("do not leave me in RAM"));
  const detail::SecureBufferPages pages = detail::pages_of(*buffer);
  ASSERT_FALSE(all_zero({pages.data, pages.data_size})) << "the secret and canaries are there before";
  watched.pages = pages.data;
  buffer.reset();
  EXPECT_EQ(watched.seen, 1);
  EXPECT_EQ(watched.size, pages.data_size);
  EXPECT_TRUE(watched.zero) << "secret and canaries wiped";
}

TEST_F(WipeInspection, MoveAssignmentWipesTheBufferItReplaces) {
  SecureBuffer target = SecureBuffer::copy_of("old secret");
  watched.pages = detail::pages_of(target).data;
  target = SecureBuffer::copy_of("new secret");
  EXPECT_EQ(watched.seen, 1);
  EXPECT_TRUE(watched.zero);
  EXPECT_EQ(contents(target), "new secret");
  SecureBuffer moved = std::move(target);
  EXPECT_TRUE(target.empty());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(contents(moved), "new secret");
}

TEST(SecureBufferTest, WipeZeroesTheSecretKeepsItsSizeAndTheCanaries) {
  SecureBuffer buffer = SecureBuffer::copy_of("secret");
  buffer.wipe();
  EXPECT_EQ(contents(buffer), std::string(6, '\0'));
  EXPECT_TRUE(buffer.self_check());
}

TEST(SecureBufferTest, AnOverrunIntoTheCanariesFailsTheSelfCheck) {
  SecureBuffer buffer = SecureBuffer::copy_of("0123456789");
  const std::size_t before = memory_protection_status().buffers;
  EXPECT_TRUE(memory_protection_status().self_check);
  buffer.write([](std::span<std::byte> bytes) {
    bytes.data()[bytes.size()] = ~bytes.data()[bytes.size()];  // one byte past the end, on purpose
  });
  EXPECT_FALSE(buffer.self_check());
  const MemoryProtectionStatus status = memory_protection_status();
  EXPECT_EQ(status.buffers, before);
  EXPECT_FALSE(status.self_check);
}

TEST(SecureBufferTest, AnUnderrunIntoTheCanaryFillFailsTheSelfCheck) {
  SecureBuffer buffer = SecureBuffer::copy_of("0123456789");
  buffer.write([](std::span<std::byte> bytes) { *(bytes.data() - 1) ^= std::byte{1}; });
  EXPECT_FALSE(buffer.self_check());
}

TEST(SecureBufferDeathTest, TouchingTheTrailingGuardPageKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        SecureBuffer buffer = SecureBuffer::copy_of("secret");
        const volatile std::byte* guard = detail::pages_of(buffer).trailing_guard;
        [[maybe_unused]] std::byte value = *guard;
      },
      "");
}

TEST(SecureBufferDeathTest, TouchingTheLeadingGuardPageKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        SecureBuffer buffer = SecureBuffer::copy_of("secret");
        const detail::SecureBufferPages pages = detail::pages_of(buffer);
        volatile std::byte* guard = const_cast<std::byte*>(pages.leading_guard);
        guard[pages.data - pages.leading_guard - 1] = std::byte{1};  // the byte just before the data pages
      },
      "");
}

TEST(SecureBufferTest, MemoryProtectionStatusCountsLiveBuffersAndLockedPages) {
  const MemoryProtectionStatus before = memory_protection_status();
  {
    SecureBuffer small = SecureBuffer::copy_of("a");
    SecureBuffer large(10000);
    const MemoryProtectionStatus during = memory_protection_status();
    EXPECT_EQ(during.buffers, before.buffers + 2);
    EXPECT_TRUE(during.secure_buffers);
    EXPECT_TRUE(during.enabled);
    EXPECT_TRUE(during.self_check);
    EXPECT_EQ(during.locked_bytes,
              before.locked_bytes + detail::pages_of(small).data_size + detail::pages_of(large).data_size);
    EXPECT_EQ(during.mlock_failures, before.mlock_failures);
  }
  const MemoryProtectionStatus after = memory_protection_status();
  EXPECT_EQ(after.buffers, before.buffers);
  EXPECT_EQ(after.locked_bytes, before.locked_bytes);
}

// capset(2) on the calling thread only: the forked child of the test below, nothing else.
bool drop_ipc_lock_capability() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const unsigned bit = 1U << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].effective &= ~bit;
  data[CAP_IPC_LOCK / 32].permitted &= ~bit;
  data[CAP_IPC_LOCK / 32].inheritable &= ~bit;
  return syscall(SYS_capset, &header, data) == 0;
}

// Runs in a child process (the rlimit and the capability go with it), and tells by its exit
// status which expectation failed: 0 when every one held.
int use_a_buffer_without_mlock() {
  if (!drop_ipc_lock_capability()) return 10;
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return 11;
  limit.rlim_cur = 0;
  if (setrlimit(RLIMIT_MEMLOCK, &limit) != 0) return 12;
  const std::size_t failures_before = memory_protection_status().mlock_failures;
  SecureBuffer buffer = SecureBuffer::copy_of("still a secret");
  if (buffer.locked()) return 13;  // mlock was not refused: the test would prove nothing
  if (contents(buffer) != "still a secret" || !buffer.equals("still a secret") || !buffer.self_check()) return 14;
  const MemoryProtectionStatus status = memory_protection_status();
  if (status.enabled || !status.secure_buffers || status.buffers != 1) return 15;
  if (status.mlock_failures != failures_before + 1 || status.locked_bytes != 0) return 16;
  return 0;
}

TEST(SecureBufferDeathTest, WhenMlockIsRefusedTheBufferWorksUnlockedAndSaysSo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(use_a_buffer_without_mlock()), ::testing::ExitedWithCode(0), "");
  // This process kept its limit and capability.
  EXPECT_TRUE(SecureBuffer(1).locked());
}

TEST(SecureBufferTest, ReadersNeverSeeAHalfDoneWrite) {
  // The writer fills the whole buffer with one value at a time; a reader that ran concurrently
  // with it would see two values. Under ThreadSanitizer an unsynchronised access also fails.
  SecureBuffer buffer(4096);
  std::atomic<bool> stop{false};
  std::atomic<int> torn_reads{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        buffer.read([&](std::span<const std::byte> bytes) {
          if (std::any_of(bytes.begin(), bytes.end(), [&](std::byte byte) { return byte != bytes[0]; })) ++torn_reads;
        });
        buffer.equals("probe");
        ++reads;
        // glibc's rwlock prefers readers: without a pause the writer would starve (seconds under TSan).
        std::this_thread::yield();
      }
    });
  }
  // Until the readers have overlapped the writes for a while, in slow builds too.
  for (int value = 1; value <= 200 || reads.load() < 100; ++value) {
    buffer.write([value](std::span<std::byte> bytes) {
      std::fill(bytes.begin(), bytes.end(), static_cast<std::byte>(value));
    });
  }
  buffer.wipe();
  stop = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(torn_reads, 0);
  EXPECT_TRUE(buffer.self_check());
}

TEST(SecureBufferTest, EqualsComparesContentAndLength) {
  const SecureBuffer token = SecureBuffer::copy_of("s3cret-token");
  EXPECT_TRUE(token.equals("s3cret-token"));
  EXPECT_FALSE(token.equals("s3cret-tokeN"));
  EXPECT_FALSE(token.equals("X3cret-token"));
  EXPECT_FALSE(token.equals("s3cret-toke"));      // a prefix
  EXPECT_FALSE(token.equals("s3cret-token-"));    // longer
  EXPECT_FALSE(token.equals("s3cret-tokens3cret-token"));  // the secret twice: the modulo does not fool it
  EXPECT_FALSE(token.equals(""));
  EXPECT_TRUE(SecureBuffer::copy_of(std::string_view("\0\1", 2)).equals(std::string_view("\0\1", 2)));
}

class FromFileTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto path = directory.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  demo::TemporaryDirectory directory{"securechannel-secure-buffer"};
};

TEST_F(FromFileTest, ReadsTheWholeFile) {
  std::string error = "stale";
  const std::string key = "-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----\n";
  const SecureBuffer buffer = SecureBuffer::from_file(write("client.key", key), error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(contents(buffer), key);
  EXPECT_TRUE(buffer.locked());
}

TEST_F(FromFileTest, AnEmptyFileIsAnEmptyBufferNotAnError) {
  std::string error;
  EXPECT_TRUE(SecureBuffer::from_file(write("empty", ""), error).empty());
  EXPECT_EQ(error, "");
}

TEST_F(FromFileTest, FailuresNameThePathAndTheReason) {
  std::string error;
  const std::string missing = (directory.path() / "missing.key").string();
  EXPECT_TRUE(SecureBuffer::from_file(missing, error).empty());
  EXPECT_EQ(error, "cannot read " + missing + ": No such file or directory");

  EXPECT_TRUE(SecureBuffer::from_file(directory.path().string(), error).empty());
  EXPECT_EQ(error, "cannot read " + directory.path().string() + ": not a regular file");

  const auto huge = write("huge", std::string((1 << 20) + 1, 'x'));
  EXPECT_TRUE(SecureBuffer::from_file(huge.string(), error).empty());
  EXPECT_EQ(error, "cannot read " + huge.string() + ": larger than 1048576 bytes, not a key or passphrase file");
}

TEST(SecureWipeTest, WipesTheWholeStringBufferIncludingWhatAMoveLeftBehind) {
  std::string token = "short";  // in the small-string buffer
  std::string taken = std::move(token);
  const char* remnant = token.data();  // NOLINT(bugprone-use-after-move): its bytes are the point
  const std::size_t capacity = token.capacity();
  secure_wipe(token);
  EXPECT_TRUE(token.empty());
  EXPECT_TRUE(std::all_of(remnant, remnant + capacity, [](char c) { return c == '\0'; }));

  std::string long_token(100, 'z');
  long_token.resize(10);  // 90 bytes of the secret beyond size()
  const char* heap = long_token.data();
  const std::size_t heap_capacity = long_token.capacity();
  secure_wipe(long_token);
  EXPECT_TRUE(std::all_of(heap, heap + heap_capacity, [](char c) { return c == '\0'; }));
  EXPECT_EQ(taken, "short");
}

}  // namespace
}  // namespace securechannel
