package main

import (
	"encoding/base64"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/jackc/pgx/v5/pgproto3"
)

// hostilePostgres is a loopback server that knows the datasource's
// password (a compromised server, or the real one turned hostile) and
// accepts the connection without asking for it (the gateway never sends
// a password in clear without verified TLS, so it could not learn it
// that way); then it echoes the password back, in several encodings, in
// the message of every error it sends. With detail, its errors have a
// clean message and the secret in their detail and hint instead.
func hostilePostgres(t *testing.T, secret string, detail ...bool) string {
	return fakePostgres(t, func(b *pgproto3.Backend) { serveHostile(b, secret, len(detail) > 0 && detail[0]) })
}

// fakePostgres is a loopback server that answers an SSLRequest with 'N',
// reads the startup message and hands each connection to serve.
func fakePostgres(t *testing.T, serve func(b *pgproto3.Backend)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				b := pgproto3.NewBackend(conn, conn)
				msg, err := b.ReceiveStartupMessage()
				if err != nil {
					return
				}
				if _, ok := msg.(*pgproto3.SSLRequest); ok {
					conn.Write([]byte{'N'})
					if msg, err = b.ReceiveStartupMessage(); err != nil {
						return
					}
				}
				if _, ok := msg.(*pgproto3.StartupMessage); ok {
					serve(b)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func serveHostile(b *pgproto3.Backend, secret string, detail bool) {
	var u16 strings.Builder
	for _, r := range utf16.Encode([]rune(secret)) {
		u16.WriteString(string(rune(r)))
		u16.WriteByte(0)
	}
	echo := "syntax error at or near " + secret + " (" + base64.StdEncoding.EncodeToString([]byte(secret)) + ", " +
		hex.EncodeToString([]byte(secret)) + ", " + strings.ReplaceAll(secret, "-", `\u002d`) + ")"
	b.Send(&pgproto3.AuthenticationOk{})
	b.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	b.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "16.0"})
	b.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if b.Flush() != nil {
		return
	}
	for {
		m, err := b.Receive()
		if err != nil {
			return
		}
		switch m.(type) {
		case *pgproto3.Terminate:
			return
		case *pgproto3.Query, *pgproto3.Sync:
			if detail {
				b.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601", Message: "syntax error at or near \"detail\"", Position: 8,
					Detail: "the server saw " + echo, Hint: "the password is " + secret})
			} else {
				b.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601", Message: echo})
			}
			b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if b.Flush() != nil {
				return
			}
		}
	}
}

// TestHostileUpstreamCannotEchoSecret proves P3 for connector errors: a
// datasource server that obtains the password (by asking for it in clear)
// and puts it, raw and encoded, in its error messages cannot make the
// gateway show it to a caller, who gets the error's code without its
// message.
func TestHostileUpstreamCannotEchoSecret(t *testing.T) {
	const secret = "Hostile-Echo-Secret-7f3a"
	addr := hostilePostgres(t, secret)
	host, portN := mustSplitHostPort(t, addr)
	_, c := queryGateway(t, t.TempDir())
	id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "hostile", "kind": "postgres",
		"settings": map[string]any{"host": host, "port": portN, "database": "x", "user": "x", "sslmode": "disable"},
		"secrets":  map[string]any{"password": secret}})["id"].(string)
	forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), hex.EncodeToString([]byte(secret)),
		strings.ReplaceAll(secret, "-", `\u002d`), strings.ReplaceAll(secret, "-", `\\u002d`)}
	for _, path := range []string{"/query", "/test"} {
		r := c.do("POST", "/api/datasources/"+id+path, map[string]any{"query": "SELECT 1"})
		if r.Status < 400 {
			t.Fatalf("%s: got %d %s, want an error", path, r.Status, r.Body)
		}
		for _, f := range forms {
			if strings.Contains(string(r.Body), f) {
				t.Errorf("%s: the answer holds the secret as %q: %s", path, f, r.Body)
			}
		}
		if !strings.Contains(string(r.Body), "withheld") {
			t.Errorf("%s: answer %s does not say the message was withheld", path, r.Body)
		}
	}
}

// TestHostileUpstreamDetailRedacted proves P3 for the facts beside an
// error's message: a secret the server puts in an error's detail or hint
// is redacted, while the clean message and its position reach the caller.
func TestHostileUpstreamDetailRedacted(t *testing.T) {
	const secret = "Hostile-Detail-Secret-51c2"
	addr := hostilePostgres(t, secret, true)
	host, portN := mustSplitHostPort(t, addr)
	_, c := queryGateway(t, t.TempDir())
	id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "hostile", "kind": "postgres",
		"settings": map[string]any{"host": host, "port": portN, "database": "x", "user": "x", "sslmode": "disable"},
		"secrets":  map[string]any{"password": secret}})["id"].(string)
	r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT detail"})
	if r.Status < 400 {
		t.Fatalf("got %d %s, want an error", r.Status, r.Body)
	}
	for _, f := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), hex.EncodeToString([]byte(secret)),
		strings.ReplaceAll(secret, "-", `\u002d`), strings.ReplaceAll(secret, "-", `\\u002d`)} {
		if strings.Contains(string(r.Body), f) {
			t.Errorf("the answer holds the secret as %q: %s", f, r.Body)
		}
	}
	for _, want := range []string{`"message":"syntax error at or near \"detail\""`, `"position":8`, `"detail":"the server saw `, `"hint":"the password is `} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("answer %s lacks %s", r.Body, want)
		}
	}
}
