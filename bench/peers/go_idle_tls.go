// Go's crypto/tls beside the pool in idle_memory_benchmark: holds N verified TLS 1.3 client
// connections to one upstream and measures this process's resident memory the way the C++
// holders do (bench/idle_connection_holders.hpp), printing one JSON object with the same fields.
//
//	go_idle_tls -host 127.0.0.1 -port 8443 -ca ca.pem -connections 1000 -establishment concurrent
//	go_idle_tls ... -reading   # a goroutine blocked in Read on each connection, as net/http holds them
//
// Resumption is on, as in the pool: a tls.ClientSessionCache seeded by the first connection,
// whose session tickets are read before the next connection starts (Go uses a ticket more than
// once, so one is enough). Without -reading the other connections never read, so the tickets
// the server sends them stay in the kernel's socket buffer; with -reading each connection has a
// goroutine in Read, which is how a Go program notices that an idle connection was closed
// (net/http's Transport does this for every idle connection, with its 4 KB bufio reader and
// writer on top).
//
// RSS is read after runtime.GC() and debug.FreeOSMemory(), the Go counterpart of the C++
// holders' malloc_trim(0); "untrimmed" readings are taken just before that, after a GC.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

type sample struct {
	Requested        int     `json:"requested"`
	Established      int     `json:"established"`
	VerifiedTLS13    int     `json:"verified_tls13"`
	Resumed          int     `json:"resumed"`
	ConnectFailures  int     `json:"connect_failures"`
	RSSAfterSetup    uint64  `json:"rss_after_setup_bytes"`
	RSSAfterFirst    uint64  `json:"rss_after_first_bytes"`
	RSSAfterAll      uint64  `json:"rss_after_all_bytes"`
	RSSAfterProbe    uint64  `json:"rss_after_probe_bytes"`
	HeapAfterFirst   uint64  `json:"heap_after_first_bytes"`
	HeapAfterAll     uint64  `json:"heap_after_all_bytes"`
	HeapAfterProbe   uint64  `json:"heap_after_probe_bytes"`
	UntrimmedFirst   uint64  `json:"untrimmed_rss_after_first_bytes"`
	UntrimmedAll     uint64  `json:"untrimmed_rss_after_all_bytes"`
	EstablishSeconds float64 `json:"establish_seconds"`
	Error            string  `json:"error"`
}

type options struct {
	address       string
	serverName    string
	caFile        string
	connections   int
	concurrent    bool
	reading       bool
	timeLimit     time.Duration
	ticketTimeout time.Duration
}

// residentBytes reads RSS from /proc/self/statm, as testing/process_info does for the C++ holders.
func residentBytes() uint64 {
	text, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(text))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(fields[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// heapBytes is Go's counterpart of mallinfo2's heap in use: spans holding objects, plus the
// goroutine stacks (a -reading connection's goroutine is part of its cost).
func heapBytes() uint64 {
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return stats.HeapInuse + stats.StackInuse
}

// measure returns RSS before and after giving freed memory back to the system, and heap in use.
func measure() (untrimmed, trimmed, heap uint64) {
	runtime.GC()
	untrimmed = residentBytes()
	debug.FreeOSMemory()
	return untrimmed, residentBytes(), heapBytes()
}

type holder struct {
	options options
	config  *tls.Config
	mutex   sync.Mutex
	conns   []*tls.Conn
	result  sample
}

func (h *holder) connect() {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", h.options.address, h.config)
	h.mutex.Lock()
	defer h.mutex.Unlock()
	if err != nil {
		h.result.ConnectFailures++
		if h.result.Error == "" {
			h.result.Error = err.Error()
		}
		return
	}
	h.result.Established++
	state := conn.ConnectionState()
	if state.Version == tls.VersionTLS13 && len(state.VerifiedChains) > 0 {
		h.result.VerifiedTLS13++
	}
	if state.DidResume {
		h.result.Resumed++
	}
	h.conns = append(h.conns, conn)
	if h.options.reading {
		go func() {
			var one [1]byte
			conn.Read(one[:]) // returns when the peer closes or the program ends
		}()
	}
}

// readTickets lets the first connection take the session tickets the server sends after the
// handshake, so that the connections after it resume. The read ends at its deadline; a timeout
// leaves a tls.Conn usable.
func readTickets(conn *tls.Conn, timeout time.Duration) {
	conn.SetReadDeadline(time.Now().Add(timeout))
	var one [1]byte
	conn.Read(one[:])
	conn.SetReadDeadline(time.Time{})
}

func run(o options) sample {
	h := &holder{options: o}
	h.result.Requested = o.connections
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(o.caFile)
	if err != nil || !roots.AppendCertsFromPEM(pem) {
		h.result.Error = "cannot read a CA certificate from " + o.caFile
		return h.result
	}
	h.config = &tls.Config{
		RootCAs:            roots,
		ServerName:         o.serverName, // an IP literal: verified against the IP SANs
		MinVersion:         tls.VersionTLS13,
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	h.conns = make([]*tls.Conn, 0, o.connections)
	_, h.result.RSSAfterSetup, _ = measure()

	h.connect()
	if len(h.conns) == 0 {
		return h.result
	}
	if !o.reading {
		readTickets(h.conns[0], o.ticketTimeout)
	} else {
		time.Sleep(o.ticketTimeout) // its goroutine reads them
	}
	h.result.UntrimmedFirst, h.result.RSSAfterFirst, h.result.HeapAfterFirst = measure()

	started := time.Now()
	deadline := started.Add(o.timeLimit)
	if o.concurrent {
		// As many handshakes at once as the pool's warm_up() starts with tickets at hand.
		slots := make(chan struct{}, 16)
		var group sync.WaitGroup
		for i := 1; i < o.connections && time.Now().Before(deadline); i++ {
			slots <- struct{}{}
			group.Add(1)
			go func() {
				defer group.Done()
				h.connect()
				<-slots
			}()
		}
		group.Wait()
	} else {
		for i := 1; i < o.connections && time.Now().Before(deadline); i++ {
			h.connect()
		}
	}
	h.result.EstablishSeconds = time.Since(started).Seconds()
	if o.reading {
		time.Sleep(o.ticketTimeout) // every goroutine has read its connection's tickets
	}
	h.result.UntrimmedAll, h.result.RSSAfterAll, h.result.HeapAfterAll = measure()

	if h.result.Error == "" && h.result.VerifiedTLS13 != o.connections {
		h.result.Error = fmt.Sprintf("%d of %d connections verified with TLS 1.3", h.result.VerifiedTLS13, o.connections)
	}
	runtime.KeepAlive(h.conns)
	for _, conn := range h.conns {
		conn.Close()
	}
	return h.result
}

func main() {
	var o options
	host := flag.String("host", "127.0.0.1", "upstream address")
	port := flag.String("port", "", "upstream port")
	establishment := flag.String("establishment", "concurrent", "concurrent (16 handshakes at once) or one_at_a_time")
	flag.StringVar(&o.caFile, "ca", "", "PEM file of the CA that signed the upstream's certificate")
	flag.IntVar(&o.connections, "connections", 1000, "idle connections to hold")
	flag.BoolVar(&o.reading, "reading", false, "keep a goroutine blocked in Read on every connection")
	flag.DurationVar(&o.timeLimit, "time-limit", 60*time.Second, "time allowed to establish them")
	flag.DurationVar(&o.ticketTimeout, "ticket-wait", 200*time.Millisecond, "time given to read session tickets")
	flag.Parse()
	if *port == "" || o.caFile == "" || o.connections < 2 ||
		(*establishment != "concurrent" && *establishment != "one_at_a_time") {
		fmt.Fprintln(os.Stderr, "go_idle_tls: -port, -ca, -connections >= 2 and -establishment concurrent|one_at_a_time are required")
		os.Exit(2)
	}
	o.address = net.JoinHostPort(*host, *port)
	o.serverName = *host
	o.concurrent = *establishment == "concurrent"
	report, _ := json.Marshal(run(o))
	fmt.Println(string(report))
}
