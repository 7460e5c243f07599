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
  SPDLOG_FMT_EXTERNAL
  SPDLOG_COMPILED_LIB)

if(SC_SANITIZE)
  add_compile_options(-fsanitize=${SC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${SC_SANITIZE})
endif()
if(SC_SANITIZE MATCHES "thread")
  # GCC 12 warns that TSan does not model the atomic_thread_fence inside Asio's fenced blocks.
  add_compile_options(-Wno-tsan)
endif()
