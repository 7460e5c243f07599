package securechannel

import (
	"fmt"
	"time"
)

// PoolConfig describes a pool: an endpoint and the keys of a pool file (docs/CONFIG.md; the
// TLS ones with a "tls." prefix, "io_threads" for the library's own I/O threads), or a pool of
// a TOML pool file. It holds no native resource; NewPool checks it and names every mistake.
type PoolConfig struct {
	endpoint  string
	file      string
	namespace string
	settings  []setting
}

type setting struct {
	key   string
	value interface{} // string, int64, float64, bool; appended to a list when add
	add   bool
}

// NewPoolConfig is a configuration for endpoint ("host:port") with the library's defaults.
func NewPoolConfig(endpoint string) *PoolConfig { return &PoolConfig{endpoint: endpoint} }

// LoadPoolConfig is the pool named namespace of a TOML pool file (empty: its only pool). Its
// values are the file's; Set works only for "io_threads".
func LoadPoolConfig(path, namespace string) *PoolConfig {
	return &PoolConfig{file: path, namespace: namespace}
}

// Set sets key to value: a string ("250ms", "1.3", a path), an integer, a float64, a bool or a
// time.Duration (written as whole milliseconds).
func (c *PoolConfig) Set(key string, value interface{}) *PoolConfig {
	switch v := value.(type) {
	case int:
		value = int64(v)
	case int32:
		value = int64(v)
	case uint32:
		value = int64(v)
	case time.Duration:
		value = fmt.Sprintf("%dms", v.Milliseconds())
	}
	c.settings = append(c.settings, setting{key: key, value: value})
	return c
}

// Add appends value to a list key ("tls.alpn", "tls.pins").
func (c *PoolConfig) Add(key, value string) *PoolConfig {
	c.settings = append(c.settings, setting{key: key, value: value, add: true})
	return c
}
