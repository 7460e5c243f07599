// Posting to a strand over the type-erased any_io_executor without the allocation Asio's free
// functions add on the way.
//
//   post_on_strand(strand_, [self = shared_from_this()] { self->run(); });  // never inline
//
// asio::post(strand, f), asio::dispatch(strand, f) and strand.execute(f) ask the strand's inner
// executor whether it may block; any_io_executor answers a query of that property with a
// blocking_t it allocates (Asio 1.81, any_executor_base::query_fn), so every call paid a malloc
// and a free besides the queued operation: seven a request over HTTP/2 in HttpClient. The
// strand's own post (a Networking TS member, still Asio's) queues the same way, with the same
// work tracking, without asking.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>

#include <memory>
#include <utility>

namespace securechannel::detail {

using IoStrand = boost::asio::strand<boost::asio::any_io_executor>;

template <class Function>
void post_on_strand(const IoStrand& strand, Function&& function) {
  strand.post(std::forward<Function>(function), std::allocator<void>());
}

}  // namespace securechannel::detail
