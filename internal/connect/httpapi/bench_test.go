package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
)

// BenchmarkQueryJSON1MiB is one request answered with a 1 MiB JSON body
// through a loopback upstream, with every kind of credential configured.
func BenchmarkQueryJSON1MiB(b *testing.B) {
	body := httpapi.BenchJSON()
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
