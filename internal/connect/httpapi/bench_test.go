package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/querygate/querygate/internal/connect"
)

// jsonMiB is a normal 1 MiB JSON document: an array of records with
// strings that need no escaping, some that do, numbers and nesting.
func jsonMiB() []byte {
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

// BenchmarkQueryJSON1MiB is one request answered with a 1 MiB JSON body
// through a loopback upstream, with every kind of credential configured.
func BenchmarkQueryJSON1MiB(b *testing.B) {
	body := jsonMiB()
	up := newUpstream(b, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	c, _ := MustConnector(b, options{settings: map[string]any{"base_url": up.URL, "basic_user": "svc"},
		secrets: map[string]any{"basic_password": basicPW, "api_key": apiKey,
			"secret_headers": map[string]string{"X-Secret": secretHeader}}})
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		var s sink
		if _, err := c.Query(b.Context(), connect.Request{HTTP: &connect.HTTPRequest{}}, &s); err != nil {
			b.Fatal(err)
		}
	}
}
