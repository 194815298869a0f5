package httpapi

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// acceptEncoding is the Accept-Encoding of every request. The gateway
// alone decides it (a caller's or a plain header's is replaced): it is
// what Go's transport sent before, and the gateway decodes the answer
// itself (see decodeContent), so that the body it checks for secrets is
// the body the caller gets.
const acceptEncoding = "gzip"

// maxCodings bounds the content codings applied one on another.
const maxCodings = 3

// errTooLarge is the refusal of a body over the cap.
func errTooLarge(responseMax int64) error {
	return querygate.Errorf(querygate.ETOOLARGE,
		"The response is larger than the gateway allows for HTTP datasources (--http-response-max, %d bytes); ask for less (a page, a range).", responseMax)
}

// decodeContent undoes the content codings of h (Content-Encoding) on
// body, whatever the request asked for, and reports whether it changed
// anything. gzip (x-gzip), deflate (zlib, or raw deflate as some servers
// send it) and identity are decoded; the decoded size is bounded by
// responseMax at every step (no zip bomb). A body in any other coding (br,
// zstd, compress, ...) or one that does not decode is refused: it could
// not be checked for secrets. Its messages never quote the header.
func decodeContent(h http.Header, body []byte, responseMax int64) ([]byte, bool, error) {
	var codings []string
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			if c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	if len(codings) == 0 || len(body) == 0 {
		return body, false, nil
	}
	if len(codings) > maxCodings {
		return nil, false, connect.Errorf(connect.EQUERY, "The server's answer is encoded %d times over; the gateway decodes at most %d content codings.", len(codings), maxCodings)
	}
	// The last coding listed was applied last, so it is undone first.
	for i := len(codings) - 1; i >= 0; i-- {
		var err error
		if body, err = decodeOne(codings[i], body, responseMax); err != nil {
			return nil, false, err
		}
	}
	return body, true, nil
}

// decodeOne undoes one content coding.
func decodeOne(coding string, body []byte, responseMax int64) ([]byte, error) {
	var r io.Reader
	var err error
	switch coding {
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(bytes.NewReader(body))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(body))
		if errors.Is(err, zlib.ErrHeader) {
			r, err = flate.NewReader(bytes.NewReader(body)), nil
		}
	default:
		return nil, querygate.Errorf(querygate.EUNSUPPORTED,
			"The server's answer uses a content encoding that the gateway cannot decode (it decodes gzip and deflate), so it cannot be checked for secrets and is not passed on.")
	}
	if err != nil {
		return nil, undecodable()
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, responseMax+1))
	if n > responseMax {
		return nil, errTooLarge(responseMax)
	}
	if err != nil {
		return nil, undecodable()
	}
	return buf.Bytes(), nil
}

func undecodable() error {
	return connect.Errorf(connect.EQUERY, "The server's compressed answer could not be decoded, so it cannot be checked for secrets and is not passed on.")
}
