# Warnings and sanitizers for every target of the project (not for imported ones).
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow)
if(SC_WARNINGS_AS_ERRORS)
  add_compile_options(-Werror)
endif()

# Asio and Beast are compiled once, in src/core/asio_compiled.cpp and src/core/beast_compiled.cpp,
# instead of in every translation unit: a clean build stays quick on two cores.
add_compile_definitions(
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  # Asio recycles the memory of completed handlers through a per-thread cache of 2 blocks per
  # purpose; a client with dozens of requests in flight, each a few nested composed operations,
  # misses it on most allocations. 8 blocks (a few KB per thread) catch them. Every translation
  # unit that includes Asio must agree on it: it sizes a member of Asio's thread_info_base.
  BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=8
  SPDLOG_FMT_EXTERNAL
  SPDLOG_COMPILED_LIB)

if(SC_SANITIZE)
  add_compile_options(-fsanitize=${SC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${SC_SANITIZE})
endif()
if(SC_SANITIZE MATCHES "undefined" AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # Clang 14's -fsanitize=function (a check GCC's UBSan does not have) emits, for coroutine
  # frames, debug data its assembler rejects ("cannot represent a difference across sections").
  add_compile_options(-fno-sanitize=function)
endif()
if(SC_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 warns that TSan does not model the atomic_thread_fence inside Asio's fenced blocks.
  add_compile_options(-Wno-tsan)
endif()
