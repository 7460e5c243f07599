package monitor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Snapshot is what Monitor saw at one poll of /healthz.
type Snapshot struct {
	Time      time.Time
	Reachable bool           // the server answered with a health document
	Err       error          // why not, when !Reachable
	Health    *HealthSummary // nil when !Reachable
	// Changes names what differs from the previous snapshot, one line each
	// ("pool relay: breaker closed -> open", "server unreachable: ..."); on the first
	// snapshot it describes the initial state.
	Changes []string
}

// Monitor polls /healthz every interval (bypassing the cache, one attempt per poll: the next
// poll is the retry) and calls onChange with the first snapshot and then whenever reachability,
// the overall verdict, or any pool's health, readiness or circuit breaker changes. It returns
// when ctx ends, with ctx's error. onChange runs on Monitor's goroutine; a slow callback delays
// the next poll, it never overlaps with itself.
func (c *Client) Monitor(ctx context.Context, interval time.Duration, onChange func(Snapshot)) error {
	if interval <= 0 {
		return errors.New("monitor: Monitor needs an interval > 0")
	}
	if onChange == nil {
		return errors.New("monitor: Monitor needs an onChange callback")
	}
	var previous *Snapshot
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		current := c.poll(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		current.Changes = changes(previous, &current)
		if len(current.Changes) > 0 {
			onChange(current)
		}
		previous = &current
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

func (c *Client) poll(ctx context.Context) Snapshot {
	health, err := c.healthSummary(ctx, "/healthz", fetch{})
	snapshot := Snapshot{Time: time.Now(), Reachable: err == nil, Err: err, Health: health}
	return snapshot
}

// changes lists what differs between two snapshots; with no previous one, the initial state.
func changes(previous, current *Snapshot) []string {
	var lines []string
	if previous == nil || previous.Reachable != current.Reachable {
		if current.Reachable {
			lines = append(lines, fmt.Sprintf("server reachable: %s", current.Health.Status))
		} else {
			lines = append(lines, fmt.Sprintf("server unreachable: %v", current.Err))
		}
	}
	if !current.Reachable {
		return lines
	}
	if previous != nil && previous.Reachable && previous.Health.Status != current.Health.Status {
		lines = append(lines, fmt.Sprintf("verdict %s -> %s", previous.Health.Status, current.Health.Status))
	}
	before := map[string]HealthStatus{}
	if previous != nil && previous.Reachable {
		for _, pool := range previous.Health.Pools {
			before[poolKey(pool)] = pool
		}
	}
	for _, pool := range current.Health.Pools {
		key := poolKey(pool)
		old, known := before[key]
		delete(before, key)
		switch {
		case !known:
			lines = append(lines, fmt.Sprintf("pool %s: %s, breaker %s", key, pool.Status, pool.CircuitBreaker))
		default:
			if old.CircuitBreaker != pool.CircuitBreaker {
				lines = append(lines, fmt.Sprintf("pool %s: breaker %s -> %s", key, old.CircuitBreaker, pool.CircuitBreaker))
			}
			if old.Status != pool.Status {
				lines = append(lines, fmt.Sprintf("pool %s: %s -> %s", key, old.Status, pool.Status))
			}
			if old.Ready != pool.Ready {
				lines = append(lines, fmt.Sprintf("pool %s: ready %t -> %t", key, old.Ready, pool.Ready))
			}
		}
	}
	gone := make([]string, 0, len(before))
	for key := range before {
		gone = append(gone, key)
	}
	sort.Strings(gone)
	for _, key := range gone {
		lines = append(lines, fmt.Sprintf("pool %s: gone", key))
	}
	return lines
}

func poolKey(pool HealthStatus) string {
	return pool.Namespace + " (" + pool.Endpoint + ")"
}
