// Command roundtrip_load drives one HTTPS server from Go's http.Client for a fixed time, over
// either Go's own http.Transport or securechannel's cgo RoundTripper, and prints what the Go
// process spent. bench/go_roundtripper runs it against nginx, alternating the two.
//
//	roundtrip_load -transport go|securechannel -url https://127.0.0.1:PORT/ -ca ca.pem \
//	  -proto h1|h2 -connections 8 -concurrency 64 -seconds 5
//
// Output, one line:
//
//	requests 12345 errors 0 seconds 5.001 cpu_seconds 4.2 idle_heap_bytes 123 idle_rss_bytes 456 cgo_calls 789 cgo_call_ns 61.2
//
// cpu_seconds is the process's user+system time (every thread: Go's, and the library's I/O
// threads). After the load, the connections are left idle and the process's heap and RSS are
// read, so the difference between two runs with different -connections is memory per idle
// connection. cgo_calls counts the Go-to-C calls the load made (runtime.NumCgoCall), and
// cgo_call_ns is what one such crossing costs on this machine, timed on a C function that does
// nothing: together, the cgo overhead per request.
package main

// static void noop(void) {}
import "C"

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"securechannel"
)

func main() {
	transportName := flag.String("transport", "go", "go (net/http's Transport) or securechannel (the cgo RoundTripper)")
	target := flag.String("url", "", "https URL to request")
	caFile := flag.String("ca", "", "PEM file of the CA that signed the server's certificate")
	proto := flag.String("proto", "h2", "h1 (HTTP/1.1 only) or h2")
	connections := flag.Int("connections", 8, "connections to the server at most")
	concurrency := flag.Int("concurrency", 64, "requests in flight")
	seconds := flag.Float64("seconds", 5, "how long to run")
	flag.Parse()

	transport, closeTransport, err := makeTransport(*transportName, *target, *caFile, *proto, *connections)
	if err != nil {
		fmt.Fprintln(os.Stderr, "roundtrip_load:", err)
		os.Exit(2)
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var requests, failures atomic.Int64
	cgoCallsBefore := runtime.NumCgoCall()
	before := cpuSeconds()
	started := time.Now()
	deadline := started.Add(time.Duration(*seconds * float64(time.Second)))
	var workers sync.WaitGroup
	for i := 0; i < *concurrency; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for time.Now().Before(deadline) {
				response, err := client.Get(*target)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, response.Body)
				response.Body.Close()
				if response.StatusCode == http.StatusOK {
					requests.Add(1)
				} else {
					failures.Add(1)
				}
			}
		}()
	}
	workers.Wait()
	elapsed := time.Since(started).Seconds()
	cpu := cpuSeconds() - before
	cgoCalls := runtime.NumCgoCall() - cgoCallsBefore

	// Idle: the connections stay open; what does the process hold for them?
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	var memory runtime.MemStats
	runtime.ReadMemStats(&memory)
	fmt.Printf("requests %d errors %d seconds %.3f cpu_seconds %.3f idle_heap_bytes %d idle_rss_bytes %d cgo_calls %d cgo_call_ns %.1f\n",
		requests.Load(), failures.Load(), elapsed, cpu, memory.HeapInuse, rssBytes(), cgoCalls, cgoCallNanoseconds())
	closeTransport()
}

func makeTransport(name, target, caFile, proto string, connections int) (http.RoundTripper, func(), error) {
	switch name {
	case "go":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("no certificate in %s", caFile)
		}
		transport := &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13},
			MaxConnsPerHost:     connections,
			MaxIdleConnsPerHost: connections,
			ForceAttemptHTTP2:   proto == "h2",
		}
		if proto != "h2" {
			transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		return transport, transport.CloseIdleConnections, nil
	case "securechannel":
		u, err := url.Parse(target)
		if err != nil {
			return nil, nil, err
		}
		alpn := "h2"
		if proto != "h2" {
			alpn = "http/1.1"
		}
		pool, err := securechannel.NewPool(securechannel.NewPoolConfig(u.Host).
			Set("max_connections", connections).
			Set("acquire_timeout", 10*time.Second).
			Set("tls.ca_file", caFile).
			Add("tls.alpn", alpn))
		if err != nil {
			return nil, nil, err
		}
		return pool.RoundTripper(), func() { pool.Close() }, nil
	}
	return nil, nil, fmt.Errorf("-transport %q: go or securechannel", name)
}

// cgoCallNanoseconds times the Go-to-C crossing alone: the best of five rounds of a million
// calls to a C function that does nothing.
func cgoCallNanoseconds() float64 {
	const calls = 1_000_000
	best := time.Duration(1<<63 - 1)
	for round := 0; round < 5; round++ {
		started := time.Now()
		for i := 0; i < calls; i++ {
			C.noop()
		}
		if elapsed := time.Since(started); elapsed < best {
			best = elapsed
		}
	}
	return float64(best.Nanoseconds()) / calls
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}

func rssBytes() int64 {
	file, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		if fields := strings.Fields(scanner.Text()); len(fields) == 3 && fields[0] == "VmRSS:" {
			var kib int64
			fmt.Sscan(fields[1], &kib)
			return kib * 1024
		}
	}
	return 0
}
