package pgwire

import (
	"context"
	"encoding/binary"
	"go/build"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

func serve(t *testing.T, o Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(o)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// startupCode sends a startup packet of just a request code and returns
// the one-byte answer.
func startupCode(t *testing.T, addr string, code uint32) byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], 8)
	binary.BigEndian.PutUint32(b[4:], code)
	if _, err := conn.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	var ans [1]byte
	if _, err := io.ReadFull(conn, ans[:]); err != nil {
		t.Fatal(err)
	}
	return ans[0]
}

// TestStartupRequests: a GSSENCRequest is refused; an SSLRequest is
// refused without a certificate; a client that does not ask for TLS is
// refused where TLS is required, before any password is asked for.
func TestStartupRequests(t *testing.T) {
	addr := serve(t, Options{RequireTLS: true})
	if got := startupCode(t, addr, 80877104); got != 'N' {
		t.Errorf("GSSENCRequest answered %q, want N", got)
	}
	if got := startupCode(t, addr, 80877103); got != 'N' {
		t.Errorf("SSLRequest without TLS answered %q, want N", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	host, port, _ := net.SplitHostPort(addr)
	_, err := pgconn.Connect(ctx, "host="+host+" port="+port+" user=u dbname=d password=p sslmode=disable")
	if err == nil || !strings.Contains(err.Error(), "over TLS only") {
		t.Errorf("plaintext client where TLS is required: %v", err)
	}
	// An unknown cancel key is ignored (and the connection closed).
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b [16]byte
	binary.BigEndian.PutUint32(b[:4], 16)
	binary.BigEndian.PutUint32(b[4:8], 80877102)
	binary.BigEndian.PutUint32(b[8:12], 1)
	conn.Write(b[:])
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(b[:]); err != io.EOF || n != 0 {
		t.Errorf("cancel request answered %d bytes, %v", n, err)
	}
}

// TestAllowClient: a client the ingress policy refuses is closed before
// a byte is read.
func TestAllowClient(t *testing.T) {
	addr := serve(t, Options{AllowClient: func(netip.Addr) bool { return false }})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if n, err := conn.Read(b[:]); err != io.EOF || n != 0 {
		t.Errorf("refused client read %d bytes, %v", n, err)
	}
}

// TestAdapterOnly: the wire front end reaches datasources only through
// the use cases (P14): it imports neither the store, the catalogue, the
// sealing nor any connector.
func TestAdapterOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		for _, f := range []string{"/internal/store", "/internal/connect", "/internal/datasource", "/internal/seal", "/internal/egress", "/internal/device"} {
			if strings.Contains(imp, f) {
				t.Errorf("pgwire imports %s", imp)
			}
		}
	}
}

// TestLoginMessageBounded: before login a client message is bounded by
// maxLoginMessage: a password message announced at 100 KiB is refused at
// its header (the gateway neither waits for nor holds its body) and the
// connection is closed.
func TestLoginMessageBounded(t *testing.T) {
	addr := serve(t, Options{})
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "admin", "database": "x"}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	if msg, err := fe.Receive(); err != nil {
		t.Fatal(err)
	} else if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Fatalf("got %T, want the password prompt", msg)
	}
	// The header of a 100 KiB password message and the start of its body.
	head := []byte{'p', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(head[1:], 100<<10+4)
	if _, err := conn.Write(append(head, make([]byte, 1024)...)); err != nil {
		t.Fatal(err)
	}
	msg, err := fe.Receive()
	if err != nil {
		t.Fatalf("no answer to an oversized password message (the gateway waits for its body): %v", err)
	}
	if e, ok := msg.(*pgproto3.ErrorResponse); !ok || e.Code != "08P01" {
		t.Fatalf("got %#v, want a protocol error", msg)
	}
	if _, err := fe.Receive(); err == nil {
		t.Fatal("the connection stays open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the connection stays open")
	}
}
