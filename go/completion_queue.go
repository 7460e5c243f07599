//go:build cgo

package securechannel

/*
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "securechannel/securechannel.h"

// Completed requests wait here for the Go side. The library's callback runs on its I/O thread.
// Calling into Go from there would make that thread acquire one of the scheduler's GOMAXPROCS
// slots (a "P") for every response, waiting with GOMAXPROCS=1 until the running goroutine yields
// it; a Go thread blocked in C on this queue would have to reacquire one at every wake-up too.
// So the callback only pushes onto a stack and, when the stack was empty, writes to an eventfd
// that Go's netpoller watches: a goroutine wakes as for any socket and takes every completion
// at once, one cgo call per batch.
//
// What the Go side is done with (the completion, the response it copied, the call it no longer
// cancels) goes onto a second stack that the next callback frees on the I/O thread, the thread
// that allocated most of it. A thread freeing what another allocated takes that thread's
// allocator lock; contended by the two threads at every request, glibc's lock cost a futex
// wait and a context switch each time. With no request outstanding no callback will come, and
// the Go side frees at once.
//
// Both stacks are lock-free: pushes (a compare-and-swap) and takes of the whole stack (an
// exchange) only, which cannot meet the ABA problem of popping one item.

// One per request, allocated before it starts, so that the callback never allocates.
typedef struct sc_go_completion {
	struct sc_go_completion* next; // in the completed stack, then in the garbage stack
	uintptr_t handle;              // the pending request's cgo.Handle
	sc_response* response;         // NULL when failed
	sc_error error;                // when failed
	sc_call* call;                 // NULL unless cancellable; freed with the completion
	int holders;                   // the dispatcher, and RoundTrip while it may cancel: the last frees
} sc_go_completion;

static sc_go_completion* sc_go_completed = NULL; // newest first
static sc_go_completion* sc_go_garbage = NULL;
static size_t sc_go_outstanding = 0; // requests started whose callback has not run
static int sc_go_eventfd = -1;

static int sc_go_open(void) {
	sc_go_eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return sc_go_eventfd;
}

// Pushes `item` onto `stack`; whether the stack was empty.
static int sc_go_push(sc_go_completion** stack, sc_go_completion* item) {
	sc_go_completion* head = __atomic_load_n(stack, __ATOMIC_SEQ_CST);
	do {
		item->next = head;
	} while (!__atomic_compare_exchange_n(stack, &head, item, 1, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return head == NULL;
}

static size_t sc_go_live = 0; // completions allocated and not yet freed

static sc_go_completion* sc_go_completion_new(void) {
	sc_go_completion* completion = calloc(1, sizeof *completion);
	if (completion != NULL) __atomic_add_fetch(&sc_go_live, 1, __ATOMIC_RELAXED);
	return completion;
}

static void sc_go_completion_free(sc_go_completion* completion) {
	free(completion);
	__atomic_sub_fetch(&sc_go_live, 1, __ATOMIC_RELAXED);
}

// For tests, once quiet: requests outstanding, and completions not freed.
static void sc_go_leftovers(size_t* outstanding, size_t* live) {
	*outstanding = __atomic_load_n(&sc_go_outstanding, __ATOMIC_SEQ_CST);
	*live = __atomic_load_n(&sc_go_live, __ATOMIC_SEQ_CST);
}

static void sc_go_sweep(void) {
	sc_go_completion* item = __atomic_exchange_n(&sc_go_garbage, NULL, __ATOMIC_SEQ_CST);
	while (item != NULL) {
		sc_go_completion* next = item->next;
		sc_response_free(item->response);
		sc_call_free(item->call);
		sc_go_completion_free(item);
		item = next;
	}
}

// One holder is done with `item`; the last puts it on the garbage stack. An item pushed while a
// request is outstanding is freed by that request's callback: the callback counts itself done
// before it sweeps, and both orders are sequentially consistent, so either this load sees the
// count at zero or that sweep sees the item.
static void sc_go_release(sc_go_completion* item) {
	if (__atomic_sub_fetch(&item->holders, 1, __ATOMIC_ACQ_REL) != 0) return;
	sc_go_push(&sc_go_garbage, item);
	if (__atomic_load_n(&sc_go_outstanding, __ATOMIC_SEQ_CST) == 0) sc_go_sweep();
}

// The dispatcher's release of a batch it has delivered, oldest first along `next`.
static void sc_go_release_batch(sc_go_completion* item) {
	while (item != NULL) {
		sc_go_completion* next = item->next; // release may relink item
		sc_go_release(item);
		item = next;
	}
}

static void sc_go_response(void* completion, sc_response* response, const sc_error* error) {
	sc_go_completion* item = completion;
	item->response = response;
	if (error != NULL) item->error = *error;
	__atomic_sub_fetch(&sc_go_outstanding, 1, __ATOMIC_SEQ_CST);
	sc_go_sweep();
	if (sc_go_push(&sc_go_completed, item)) {
		uint64_t one = 1;
		// Cannot fail short of a counter at 2^64-1; the reader resets it each time.
		(void)!write(sc_go_eventfd, &one, sizeof one);
	}
}

// Every completion queued, oldest first along `next`; NULL when none.
static sc_go_completion* sc_go_take(void) {
	sc_go_completion* newest = __atomic_exchange_n(&sc_go_completed, NULL, __ATOMIC_SEQ_CST);
	sc_go_completion* oldest = NULL;
	while (newest != NULL) {
		sc_go_completion* next = newest->next;
		newest->next = oldest;
		oldest = newest;
		newest = next;
	}
	return oldest;
}

// Starts the request of `completion` (`options` may be NULL): with a call handle, kept in the
// completion, when `cancellable`. A start that fails will see no callback; its completion is the
// caller's to free.
static int sc_go_request(sc_http_client* client, const sc_request* request, const sc_request_options* options,
                         sc_go_completion* completion, int cancellable, sc_error* error) {
	completion->holders = cancellable ? 2 : 1;
	__atomic_add_fetch(&sc_go_outstanding, 1, __ATOMIC_SEQ_CST);
	int status = sc_request_start_with(client, request, options, sc_go_response, completion,
	                                   cancellable ? &completion->call : NULL, error);
	if (status != 0) {
		// In place of the callback that will not run.
		__atomic_sub_fetch(&sc_go_outstanding, 1, __ATOMIC_SEQ_CST);
		sc_go_sweep();
	}
	return status;
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/cgo"
	"sync"
)

// nativeCompletion is a request's completion record, in C memory.
type nativeCompletion = C.sc_go_completion

var (
	dispatcherMutex   sync.Mutex
	dispatcherStarted bool
)

// startRequest hands a request to the library; its completion reaches pending.done through the
// dispatcher goroutine. When cancellable, the returned completion holds the call that cancels
// it, and the caller releases it (releaseCompletion) once it will not cancel any more;
// otherwise it is nil.
func startRequest(client *C.sc_http_client, request *C.sc_request, options *C.sc_request_options,
	pending *pendingRequest, cancellable bool) (*C.sc_go_completion, error) {
	if err := ensureDispatcher(); err != nil {
		return nil, err
	}
	completion := C.sc_go_completion_new()
	if completion == nil {
		return nil, &Error{Code: 5, Name: "out_of_memory", Message: "no memory for the request's completion"}
	}
	handle := cgo.NewHandle(pending)
	// The handle travels as an integer inside C memory: no Go pointer is handed to C.
	completion.handle = C.uintptr_t(handle)
	var failure C.sc_error
	flag := C.int(0)
	if cancellable {
		flag = 1
	}
	if C.sc_go_request(client, request, options, completion, flag, &failure) != 0 {
		handle.Delete()
		C.sc_go_completion_free(completion)
		return nil, errorOf(&failure)
	}
	if !cancellable {
		return nil, nil // the dispatcher may have freed it already
	}
	return completion, nil
}

// cancelRequest cancels the request of a completion startRequest returned.
func cancelRequest(completion *C.sc_go_completion) { C.sc_call_cancel(completion.call) }

// releaseCompletion is RoundTrip done with a completion startRequest returned.
func releaseCompletion(completion *C.sc_go_completion) {
	if completion != nil {
		C.sc_go_release(completion)
	}
}

// ensureDispatcher starts the dispatcher once; a failure (no descriptor left) is tried again by
// the next request rather than kept for the life of the process.
func ensureDispatcher() error {
	dispatcherMutex.Lock()
	defer dispatcherMutex.Unlock()
	if dispatcherStarted {
		return nil
	}
	if err := openDispatcher(); err != nil {
		return err
	}
	dispatcherStarted = true
	return nil
}

func openDispatcher() error {
	fd, err := C.sc_go_open()
	if fd < 0 {
		return fmt.Errorf("securechannel: eventfd for completions: %v", err)
	}
	// Non-blocking, so os.NewFile hands it to the netpoller.
	completions := os.NewFile(uintptr(fd), "securechannel-completions")
	go dispatch(completions)
	return nil
}

// dispatch runs for the life of the process: it sleeps in the netpoller until the eventfd says
// completions are queued, then delivers them all.
func dispatch(completions *os.File) {
	var counter [8]byte
	for {
		if _, err := completions.Read(counter[:]); err != nil {
			panic("securechannel: reading the completions eventfd: " + err.Error())
		}
		batch := C.sc_go_take()
		for item := batch; item != nil; item = item.next {
			deliver(item)
		}
		C.sc_go_release_batch(batch)
	}
}

// deliver hands a completion's outcome to its RoundTrip; the completion itself (with its native
// response) is the dispatcher's to release.
func deliver(item *C.sc_go_completion) {
	handle := cgo.Handle(item.handle)
	pending := handle.Value().(*pendingRequest)
	handle.Delete()
	defer pending.pool.inFlight.Done()
	if item.response == nil {
		pending.done <- outcome{err: errorOf(&item.error)}
		return
	}
	// Copied into Go memory here, so the native response can go whether or not anyone still
	// waits for it (a cancelled RoundTrip has left; done is buffered).
	pending.done <- outcome{response: goResponse(item.response, pending.request)}
}

// nativeLeftovers is, for tests once every request has returned, how many requests the library
// still owes a callback and how many completions are not freed: both zero when nothing leaks.
func nativeLeftovers() (outstanding, live int) {
	var o, l C.size_t
	C.sc_go_leftovers(&o, &l)
	return int(o), int(l)
}
