//go:build cgo

package securechannel

/*
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "securechannel/securechannel.h"

// Completed requests wait here for the Go side. The library's callback runs on its I/O thread.
// Calling into Go from there would make that thread acquire one of the scheduler's GOMAXPROCS
// slots (a "P") for every response, waiting with GOMAXPROCS=1 until the running goroutine yields
// it; a Go thread blocked in C on this queue would have to reacquire one at every wake-up too.
// So the callback only appends to the queue and, when the queue was empty, writes to an eventfd
// that Go's netpoller watches: a goroutine wakes as for any socket and takes the completions
// out in batches, one cgo call per batch.

// One per request, allocated before it starts, so that the callback never allocates.
typedef struct sc_go_completion {
	struct sc_go_completion* next;
	uintptr_t handle;      // the pending request's cgo.Handle
	sc_response* response; // NULL when failed
	sc_error error;        // when failed
} sc_go_completion;

static pthread_mutex_t sc_go_mutex = PTHREAD_MUTEX_INITIALIZER;
static sc_go_completion* sc_go_head = NULL; // oldest
static sc_go_completion* sc_go_tail = NULL;
static int sc_go_eventfd = -1;
static int sc_go_signalled = 0; // the eventfd was written and the queue not yet emptied since

static int sc_go_open(void) {
	sc_go_eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return sc_go_eventfd;
}

static void sc_go_response(void* completion, sc_response* response, const sc_error* error) {
	sc_go_completion* item = completion;
	item->next = NULL;
	item->response = response;
	if (error != NULL) item->error = *error;
	pthread_mutex_lock(&sc_go_mutex);
	if (sc_go_tail != NULL) {
		sc_go_tail->next = item;
	} else {
		sc_go_head = item;
	}
	sc_go_tail = item;
	int signal = !sc_go_signalled;
	sc_go_signalled = 1;
	pthread_mutex_unlock(&sc_go_mutex);
	if (signal) {
		uint64_t one = 1;
		// Cannot fail short of a counter at 2^64-1; the reader resets it each time.
		(void)!write(sc_go_eventfd, &one, sizeof one);
	}
}

// Moves up to `max` completions to `out`, oldest first, without waiting. Once the queue is
// empty, the next completion writes the eventfd again.
static size_t sc_go_take(sc_go_completion** out, size_t max) {
	size_t taken = 0;
	pthread_mutex_lock(&sc_go_mutex);
	while (taken < max && sc_go_head != NULL) {
		out[taken++] = sc_go_head;
		sc_go_head = sc_go_head->next;
	}
	if (sc_go_head == NULL) {
		sc_go_tail = NULL;
		sc_go_signalled = 0;
	}
	pthread_mutex_unlock(&sc_go_mutex);
	return taken;
}

static int sc_go_request_async(sc_http_client* client, const sc_request* request, sc_go_completion* completion,
                               sc_error* error) {
	return sc_request_async(client, request, sc_go_response, completion, error);
}

static int sc_go_request_start(sc_http_client* client, const sc_request* request, sc_go_completion* completion,
                               sc_call** call, sc_error* error) {
	return sc_request_start(client, request, sc_go_response, completion, call, error);
}

static sc_go_completion* sc_go_completion_at(sc_go_completion** items, size_t index) { return items[index]; }
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// completionBatch is how many completions one cgo call takes at most.
const completionBatch = 256

var (
	dispatcherMutex   sync.Mutex
	dispatcherStarted bool
)

// startRequest hands a request to the library; its completion reaches pending.done through the
// dispatcher goroutine. When cancellable, the returned call (the caller's to free with
// sc_call_free) can cancel it; otherwise the call is nil and costs nothing.
func startRequest(client *C.sc_http_client, request *C.sc_request, pending *pendingRequest,
	cancellable bool) (*C.sc_call, error) {
	if err := ensureDispatcher(); err != nil {
		return nil, err
	}
	completion := (*C.sc_go_completion)(C.calloc(1, C.size_t(unsafe.Sizeof(C.sc_go_completion{}))))
	if completion == nil {
		return nil, &Error{Code: 5, Name: "out_of_memory", Message: "no memory for the request's completion"}
	}
	handle := cgo.NewHandle(pending)
	// The handle travels as an integer inside C memory: no Go pointer is handed to C.
	completion.handle = C.uintptr_t(handle)
	var failure C.sc_error
	var call *C.sc_call
	var status C.int
	if cancellable {
		status = C.sc_go_request_start(client, request, completion, &call, &failure)
	} else {
		status = C.sc_go_request_async(client, request, completion, &failure)
	}
	if status != 0 {
		handle.Delete()
		C.free(unsafe.Pointer(completion))
		return nil, errorOf(&failure)
	}
	return call, nil
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
	batch := (**C.sc_go_completion)(C.malloc(C.size_t(completionBatch) * C.size_t(unsafe.Sizeof((*C.sc_go_completion)(nil)))))
	var counter [8]byte
	for {
		if _, err := completions.Read(counter[:]); err != nil {
			panic("securechannel: reading the completions eventfd: " + err.Error())
		}
		for {
			taken := int(C.sc_go_take(batch, completionBatch))
			for i := 0; i < taken; i++ {
				deliver(C.sc_go_completion_at(batch, C.size_t(i)))
			}
			if taken < completionBatch {
				break
			}
		}
	}
}

func deliver(item *C.sc_go_completion) {
	defer C.free(unsafe.Pointer(item))
	handle := cgo.Handle(item.handle)
	pending := handle.Value().(*pendingRequest)
	handle.Delete()
	defer pending.pool.inFlight.Done()
	if item.response == nil {
		pending.done <- outcome{err: errorOf(&item.error)}
		return
	}
	// Copied into Go memory here, so the native response is freed whether or not anyone still
	// waits for it (a cancelled RoundTrip has left; done is buffered).
	pending.done <- outcome{response: goResponse(item.response, pending.request)}
	C.sc_response_free(item.response)
}
