// Package securechannel embeds the native securechannel pool in a Go program through its C ABI
// (include/securechannel/securechannel.h, libsecurechannel.so): the pool's warm, verified TLS
// connections, HTTP/2 multiplexing, pins and mTLS, behind an http.RoundTripper.
//
//	pool, err := securechannel.NewPool(securechannel.NewPoolConfig("relay.example:443").
//		Set("max_connections", 16).Add("tls.alpn", "h2"))
//	defer pool.Close()
//	client := &http.Client{Transport: pool.RoundTripper()}
//	resp, err := client.Get("https://relay.example/v1/status")
//
// It needs cgo and libsecurechannel (scripts/go sets CGO_CFLAGS and CGO_LDFLAGS for the
// in-tree build; docs/GO.md). The monitoring client and the service need neither: they are
// the sub-packages monitor and service.
package securechannel
