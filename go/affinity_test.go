//go:build cgo

package securechannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"securechannel/internal/daemontest"
)

// Requests with the same affinity key go over the same upstream connection (the upstream sees
// the same client address), concurrent ones included, and the response says so; a request
// without a key carries no affinity header.
func TestAnAffinityKeyKeepsItsConnection(t *testing.T) {
	for _, alpn := range []string{"h2", "http/1.1"} {
		t.Run(alpn, func(t *testing.T) {
			upstream := daemontest.StartUpstream(t)
			pool := newTestPoolSpeaking(t, upstream, 4, alpn)
			client := &http.Client{Transport: pool.RoundTripper()}
			peerOf := func(key string) (string, string) {
				ctx := WithAffinity(context.Background(), Affinity{Key: key})
				request, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+upstream.Address+"/peer", nil)
				response, err := client.Do(request)
				if err != nil {
					t.Error(err)
					return "", ""
				}
				defer response.Body.Close()
				body, _ := io.ReadAll(response.Body)
				return string(body), response.Header.Get(AffinityHeader)
			}
			const keys = 12
			home := make([]string, keys)
			for i := range home {
				peer, outcome := peerOf(fmt.Sprint("session-", i))
				if outcome != "new_key" {
					t.Errorf("key %d, first use: %q", i, outcome)
				}
				home[i] = peer
			}
			var wait sync.WaitGroup
			for round := 0; round < 5; round++ {
				for i := 0; i < keys; i++ {
					wait.Add(1)
					go func(i int) {
						defer wait.Done()
						if peer, outcome := peerOf(fmt.Sprint("session-", i)); peer != home[i] || outcome != "kept" {
							t.Errorf("key %d: %s %q, its connection is %s", i, peer, outcome, home[i])
						}
					}(i)
				}
				wait.Wait()
			}
			response, err := client.Get("https://" + upstream.Address + "/peer")
			if err != nil {
				t.Fatal(err)
			}
			response.Body.Close()
			if outcome := response.Header.Get(AffinityHeader); outcome != "" {
				t.Errorf("a request without a key: %s %q", AffinityHeader, outcome)
			}
		})
	}
}

func TestAnAffinityKeyTooLongIsRefusedByName(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	pool := newTestPool(t, upstream, 1)
	ctx := WithAffinity(context.Background(), Affinity{Key: strings.Repeat("k", 257)})
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+upstream.Address+"/", nil)
	_, err := pool.RoundTripper().RoundTrip(request)
	var failure *Error
	if !errors.As(err, &failure) || failure.Name != "invalid_argument" || !strings.Contains(failure.Message, "at most 256") {
		t.Errorf("a 257-byte key: %v", err)
	}
	// A NUL would end the key at the C boundary, making two keys one.
	ctx = WithAffinity(context.Background(), Affinity{Key: "session\x00a"})
	request, _ = http.NewRequestWithContext(ctx, http.MethodGet, "https://"+upstream.Address+"/", nil)
	_, err = pool.RoundTripper().RoundTrip(request)
	if !errors.As(err, &failure) || failure.Name != "invalid_argument" || !strings.Contains(failure.Message, "NUL") {
		t.Errorf("a key with a NUL: %v", err)
	}
}
