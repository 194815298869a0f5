package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/querygate/querygate/internal/connect"
)

// benchJSON is a normal 1 MiB JSON document: an array of records with
// strings that need no escaping, some that do, numbers and nesting.
func benchJSON() []byte {
	type item struct {
		ID    int               `json:"id"`
		Name  string            `json:"name"`
		Email string            `json:"email"`
		URL   string            `json:"url"`
		Note  string            `json:"note"`
		Tags  []string          `json:"tags"`
		Attrs map[string]string `json:"attrs"`
	}
	var items []item
	size := 0
	for i := 0; size < 1<<20; i++ {
		it := item{ID: i, Name: fmt.Sprintf("user %d", i), Email: fmt.Sprintf("user%d@example.com", i),
			URL: fmt.Sprintf("https://example.com/users/%d?tab=a%%20b", i), Note: "line one\nline \"two\" \\ é",
			Tags: []string{"alpha", "beta"}, Attrs: map[string]string{"k": "v", "path": "/a/b/c"}}
		b, _ := json.Marshal(it)
		size += len(b) + 1
		items = append(items, it)
	}
	b, _ := json.Marshal(items)
	return b
}

// BenchmarkRedact measures the redaction of a clean 1 MiB JSON body with
// four secrets, beside the raw-bytes-only redaction it replaced (baseline),
// and the rendering (JSON check) that follows both.
func BenchmarkRedact(b *testing.B) {
	body := benchJSON()
	var d connect.Detector
	secrets := []string{"CANARY-bearer-4b1d9e", "CANARY-apikey-8c2f71", "CANARY-secrethdr-53aa0c", "CANARY-basicpw-e09b6d"}
	for _, s := range secrets {
		d.Add(s)
	}
	var raw [][]byte
	for _, s := range secrets {
		raw = append(raw, []byte(s))
	}
	b.Run("baseline", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			out := body
			for _, n := range raw {
				if bytes.Contains(out, n) {
					out = bytes.ReplaceAll(out, n, []byte("[REDACTED]"))
				}
			}
		}
	})
	b.Run("redact", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := d.Redact(body); !ok {
				b.Fatal("not clean")
			}
		}
	})
	b.Run("render", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, _, err := render("application/json", body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
