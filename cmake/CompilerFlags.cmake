# Warnings and sanitizers for every target of the project (not for imported ones).
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow)
if(SC_WARNINGS_AS_ERRORS)
  add_compile_options(-Werror)
endif()

# spdlog is compiled once (Debian's libspdlog) and formats with the external fmt. Private to the
# library: no public header includes spdlog. (Asio's and Beast's configuration is a usage
# requirement of the securechannel target instead: src/CMakeLists.txt.)
add_compile_definitions(SPDLOG_FMT_EXTERNAL SPDLOG_COMPILED_LIB)

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
