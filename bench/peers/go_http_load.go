// Go's net/http client as a load generator, for the HTTP throughput benchmark's extra rows: the
// client many relay operators would otherwise use. Bounded by time; prints one line that
// http_load_benchmark parses:
//
//	requests 12345 errors 0 seconds 5.001
//
// go_http_load -url https://127.0.0.1:PORT/ -ca ca.pem -proto h1|h2 -connections 32 -concurrency 32 -seconds 5
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "https URL to request")
	caFile := flag.String("ca", "", "PEM file of the CA that signed the server's certificate")
	proto := flag.String("proto", "h1", "h1 (HTTP/1.1 only) or h2")
	connections := flag.Int("connections", 32, "connections to the server at most")
	concurrency := flag.Int("concurrency", 32, "requests in flight")
	seconds := flag.Float64("seconds", 5, "how long to run")
	flag.Parse()

	pem, err := os.ReadFile(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_http_load: -ca:", err)
		os.Exit(2)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fmt.Fprintln(os.Stderr, "go_http_load: -ca: no certificate in", *caFile)
		os.Exit(2)
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13},
		MaxConnsPerHost:     *connections,
		MaxIdleConnsPerHost: *connections,
		ForceAttemptHTTP2:   *proto == "h2",
	}
	if *proto != "h2" {
		// A non-nil empty map is how net/http is told not to negotiate HTTP/2.
		transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var requests, errors atomic.Int64
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	started := time.Now()
	var workers sync.WaitGroup
	for i := 0; i < *concurrency; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for time.Now().Before(deadline) {
				response, err := client.Get(*url)
				if err != nil {
					errors.Add(1)
					continue
				}
				io.Copy(io.Discard, response.Body)
				response.Body.Close()
				if response.StatusCode == http.StatusOK {
					requests.Add(1)
				} else {
					errors.Add(1)
				}
			}
		}()
	}
	workers.Wait()
	fmt.Printf("requests %d errors %d seconds %.3f\n", requests.Load(), errors.Load(), time.Since(started).Seconds())
}
