// Package daemontest runs the real peers of the Go module's tests: a TLS upstream (Go's own
// net/http server, HTTP/2 and HTTP/1.1, with a certificate from a throwaway CA) and the real
// `scpool serve` daemon built in-tree, configured on free loopback ports.
package daemontest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Upstream is a TLS HTTP server on 127.0.0.1 that answers "hello <path>", echoes /echo, answers
// /peer with the client's address (which tells its connections apart) and /slow after two
// seconds (a /slow request the client gives up first is counted in Abandoned).
// Stop closes it and every connection; Start listens again on the same port.
type Upstream struct {
	t           *testing.T
	Address     string       // 127.0.0.1:port
	CAFile      string       // PEM of the CA that issued its certificate
	Requests    atomic.Int64 // requests served
	Connections atomic.Int64 // TCP connections accepted
	Abandoned   atomic.Int64 // /slow requests the client reset or closed before their answer

	certificate tls.Certificate
	mutex       sync.Mutex
	server      *http.Server
}

// StartUpstream issues a certificate for 127.0.0.1 and starts serving.
func StartUpstream(t *testing.T) *Upstream {
	t.Helper()
	u := &Upstream{t: t, Address: "127.0.0.1:0"}
	u.issue(t.TempDir())
	u.Start()
	t.Cleanup(u.Stop)
	return u
}

func (u *Upstream) issue(dir string) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(u.t, err)
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "daemontest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	must(u.t, err)
	ca, err := x509.ParseCertificate(caDER)
	must(u.t, err)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(u.t, err)
	leafTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, ca, &leafKey.PublicKey, caKey)
	must(u.t, err)
	u.certificate = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	u.CAFile = filepath.Join(dir, "upstream-ca.pem")
	must(u.t, os.WriteFile(u.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
}

// Start listens on Address (its port once known) and serves.
func (u *Upstream) Start() {
	u.mutex.Lock()
	defer u.mutex.Unlock()
	if u.server != nil {
		return
	}
	var listener net.Listener
	var err error
	// The port may still be in TIME_WAIT's hands for a moment after Stop.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		listener, err = net.Listen("tcp", u.Address)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	must(u.t, err)
	u.Address = listener.Addr().String()
	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.Requests.Add(1)
			switch r.URL.Path {
			case "/echo": // the body back, and the X-Test header as X-Echo
				w.Header().Set("X-Echo", r.Header.Get("X-Test"))
				io.Copy(w, io.LimitReader(r.Body, 1<<20))
			case "/peer": // the address of the connection the request came on
				fmt.Fprint(w, r.RemoteAddr)
			case "/slow": // an answer after two seconds, or nothing when the client leaves
				select {
				case <-time.After(2 * time.Second):
					fmt.Fprint(w, "slow")
				case <-r.Context().Done():
					u.Abandoned.Add(1)
				}
			default:
				fmt.Fprintf(w, "hello %s", r.URL.Path)
			}
		}),
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				u.Connections.Add(1)
			}
		},
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{u.certificate}, NextProtos: []string{"h2", "http/1.1"}},
		ReadHeaderTimeout: 10 * time.Second,
		// Stop cuts handshakes short on purpose; their errors are expected, not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	u.server = server
	go server.ServeTLS(listener, "", "")
}

// Stop closes the listener and every connection at once, as a crashed upstream would.
func (u *Upstream) Stop() {
	u.mutex.Lock()
	defer u.mutex.Unlock()
	if u.server != nil {
		u.server.Close()
		u.server = nil
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
