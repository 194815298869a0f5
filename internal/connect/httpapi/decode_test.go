package httpapi

import (
	"net/http"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// FuzzDecodeContent checks that decoding any body under any coding stays
// within the cap and fails only with the documented codes.
func FuzzDecodeContent(f *testing.F) {
	f.Add("gzip", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x4b\x04\x00\x43\xbe\xb7\xe8\x01\x00\x00\x00"))
	f.Add("deflate", []byte("x\x9cK\x04\x00\x00b\x00b"))
	f.Add("deflate", []byte("K\x04\x00"))
	f.Add("gzip, deflate", []byte{})
	f.Add("br", []byte("x"))
	f.Add("identity", []byte("plain"))
	f.Fuzz(func(t *testing.T, coding string, body []byte) {
		const limit = 1 << 16
		h := http.Header{"Content-Encoding": {coding}}
		out, _, err := decodeContent(h, body, limit)
		if err != nil {
			switch querygate.ErrorCode(err) {
			case querygate.EUNSUPPORTED, querygate.ETOOLARGE, connect.EQUERY:
			default:
				t.Fatalf("code %s", querygate.ErrorCode(err))
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("decoded %d bytes, over the cap", len(out))
		}
	})
}

func TestJSONDepth(t *testing.T) {
	for in, want := range map[string]int{
		``: 0, `1`: 0, `[]`: 1, `[[{"a":[1]}]]`: 4, `["[[[[", "\"[["]`: 1, `{"a\\":"[["}`: 1, `]]][`: 0,
	} {
		if got := jsonDepth([]byte(in)); got != want {
			t.Errorf("jsonDepth(%s) = %d, want %d", in, got, want)
		}
	}
}
