package securechannel

import "context"

// Affinity asks the pool for the connection a key has (docs/POOL.md, "Connection affinity"):
// requests with the same Key go over the same upstream connection (HTTP/2: the same session)
// while it lives, for protocols that keep state per connection. While that connection carries
// another request, a request waits for it (up to the pool's acquire_timeout), unless MayMove:
// then it takes another connection and the key moves. Keys are at most 256 bytes.
type Affinity struct {
	Key     string
	MayMove bool
}

// AffinityHeader is the response header the pool's RoundTripper sets on a response to a
// request with an affinity key: "new_key" (the key had no connection yet), "kept" (its
// connection) or "moved" (its connection closed, or was busy and MayMove: state kept on the old
// connection is not on this one). The daemon's http listener answers with the same header.
const AffinityHeader = "X-Securechannel-Affinity"

type affinityContextKey struct{}

// WithAffinity returns a context whose requests through a Pool's RoundTripper carry the affinity.
//
//	request, _ := http.NewRequestWithContext(securechannel.WithAffinity(ctx, securechannel.Affinity{Key: session}), ...)
//	response, err := client.Do(request)
//	if err == nil && response.Header.Get(securechannel.AffinityHeader) != "kept" { subscribeAgain() }
func WithAffinity(ctx context.Context, affinity Affinity) context.Context {
	return context.WithValue(ctx, affinityContextKey{}, affinity)
}
