#include "c_api/c_api_error.hpp"

#include "securechannel/error.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <string>

namespace securechannel::c_api {
namespace {

thread_local char last_message[sizeof(sc_error::message)] = "";

void copy_cut(char* destination, std::size_t capacity, std::string_view text) noexcept {
  const std::size_t length = std::min(text.size(), capacity - 1);
  std::memcpy(destination, text.data(), length);
  destination[length] = '\0';
}

}  // namespace

int fail(sc_error* error, int code, std::string_view name, std::string_view message) noexcept {
  copy_cut(last_message, sizeof last_message, message);
  if (error != nullptr) {
    error->code = code;
    copy_cut(error->name, sizeof error->name, name);
    copy_cut(error->message, sizeof error->message, message);
  }
  return code;
}

int fail(sc_error* error, const boost::system::error_code& failure, std::string_view message) noexcept {
  // An aborted request that sc_call_cancel did not end (its callback names that one itself) is
  // one the client's or the pool's shutdown ended.
  const bool shut_down =
      failure == make_error_code(errc::shutting_down) || failure == boost::asio::error::operation_aborted;
  if (shut_down) return fail(error, SC_E_SHUT_DOWN, "shutting_down", message);
  return fail(error, SC_E_REQUEST, error_kind(failure), message);
}

int succeed(sc_error* error) noexcept {
  if (error != nullptr) {
    error->code = SC_OK;
    error->name[0] = '\0';
    error->message[0] = '\0';
  }
  return SC_OK;
}

int fail_with_current_exception(sc_error* error) noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return fail(error, SC_E_OUT_OF_MEMORY, "out_of_memory", "out of memory");
  } catch (const std::exception& failure) {
    return fail(error, SC_E_INTERNAL, "internal_error", failure.what());
  } catch (...) {
    return fail(error, SC_E_INTERNAL, "internal_error", "an unknown exception");
  }
}

}  // namespace securechannel::c_api

extern "C" const char* sc_last_error(void) { return securechannel::c_api::last_message; }
