package monitor

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// The golden bodies of tests/golden/ are the server's real responses (the C++ contract test
// checks that their fields are exactly the ones the server sends). Each must decode into its
// struct with no field left over, and encode back to the same fields: a field the server added
// without a Go field, or a Go field the server does not send, fails here.

type goldenManifest struct {
	Maps  []string `json:"maps"`
	Files map[string]struct {
		Schema string `json:"schema"`
	} `json:"files"`
}

var goldenTypes = map[string]func() interface{}{
	"PoolStatus":     func() interface{} { return new(PoolStatus) },
	"EnhancedStatus": func() interface{} { return new(EnhancedStatusResponse) },
	"PoolHealth":     func() interface{} { return new(HealthStatus) },
	"HealthSummary":  func() interface{} { return new(HealthSummary) },
	"ConnectionList": func() interface{} { return new(ConnectionList) },
	"Connection":     func() interface{} { return new(ConnectionStatus) },
	"PoolStatistics": func() interface{} { return new(PoolStatistics) },
	"PoolList":       func() interface{} { return new(PoolList) },
	"Dashboard":      func() interface{} { return new(Dashboard) },
	"Error":          func() interface{} { return new(ErrorBody) },
}

func goldenDir(t *testing.T) string {
	if source := os.Getenv("SC_SOURCE_DIR"); source != "" {
		return filepath.Join(source, "tests", "golden")
	}
	return filepath.Join("..", "..", "tests", "golden")
}

func TestGoldenBodiesDecodeExactlyIntoTheStructs(t *testing.T) {
	dir := goldenDir(t)
	text, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest goldenManifest
	if err := json.Unmarshal(text, &manifest); err != nil {
		t.Fatal(err)
	}
	maps := map[string]bool{}
	for _, name := range manifest.Maps {
		maps[name] = true
	}
	if len(manifest.Files) != len(goldenTypes) {
		t.Errorf("the manifest lists %d files, this test knows %d schemas", len(manifest.Files), len(goldenTypes))
	}
	for file, entry := range manifest.Files {
		newValue, known := goldenTypes[entry.Schema]
		if !known {
			t.Errorf("%s: no Go type for schema %s", file, entry.Schema)
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		value := newValue()
		decoder := json.NewDecoder(bytes.NewReader(body))
		decoder.DisallowUnknownFields()
		if err := decoder.Decode(value); err != nil {
			t.Errorf("%s into %T: %v", file, value, err)
			continue
		}
		encoded, err := json.Marshal(value)
		if err != nil {
			t.Fatal(err)
		}
		want, got := fieldsOf(t, body, maps), fieldsOf(t, encoded, maps)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: %T encodes other fields than the golden body:\n missing: %v\n extra:   %v",
				file, value, difference(want, got), difference(got, want))
		}
	}
}

// fieldsOf lists a document's member paths as tests/contract/check_golden.py does.
func fieldsOf(t *testing.T, document []byte, maps map[string]bool) []string {
	var value interface{}
	if err := json.Unmarshal(document, &value); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	var walk func(value interface{}, prefix string)
	walk = func(value interface{}, prefix string) {
		switch v := value.(type) {
		case map[string]interface{}:
			for key, member := range v {
				path := key
				if prefix != "" {
					path = prefix + "." + key
				}
				if maps[key] {
					found[path+"{}"] = true
					continue
				}
				found[path] = true
				walk(member, path)
			}
		case []interface{}:
			for _, element := range v {
				walk(element, prefix+"[]")
			}
		}
	}
	walk(value, "")
	list := make([]string, 0, len(found))
	for path := range found {
		list = append(list, path)
	}
	sort.Strings(list)
	return list
}

func difference(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}
