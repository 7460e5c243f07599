package securechannel

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A pool with tls = false sends http:// URLs over plain TCP, with keep-alive; an https:// URL on
// it is refused, never sent in the clear.
func TestAPlainPoolSendsHttpUrlsAndRefusesHttpsOnes(t *testing.T) {
	var connections int32
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "plain "+r.URL.Path)
	}))
	upstream.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			atomic.AddInt32(&connections, 1)
		}
	}
	upstream.Start()
	defer upstream.Close()
	address := strings.TrimPrefix(upstream.URL, "http://")

	pool, err := NewPool(NewPoolConfig(address).Set("tls", false).Set("acquire_timeout", 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	client := &http.Client{Transport: pool.RoundTripper(), Timeout: 10 * time.Second}
	for i := 0; i < 10; i++ {
		response, err := client.Get("http://" + address + "/ticker")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(response.Body)
		response.Body.Close()
		if response.StatusCode != 200 || string(body) != "plain /ticker" {
			t.Fatalf("request %d: %d %q", i, response.StatusCode, body)
		}
	}
	if opened := atomic.LoadInt32(&connections); opened != 1 {
		t.Errorf("%d connections for 10 sequential requests, want 1 (keep-alive)", opened)
	}
	if status, err := pool.Status(); err != nil || status.Scheme != "http" {
		t.Errorf("status: %+v, %v; want scheme http", status, err)
	}
	if _, err := client.Get("https://" + address + "/"); err == nil || !strings.Contains(err.Error(), "use http://") {
		t.Errorf("an https URL on a plain pool: %v", err)
	}
}
