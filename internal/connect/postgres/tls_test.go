package postgres_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/testenv"
)

// pki is a test CA with a server and a client certificate.
type pki struct {
	caPEM      string
	serverCert tls.Certificate
	clientPEM  string
	clientKey  string
	pool       *x509.CertPool
}

// MustPKI makes a CA; a server certificate for the name "localhost" only
// (no IP address), and a client certificate.
func MustPKI(tb testing.TB) *pki {
	tb.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "querygate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.DNSNames = []string{name}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		return der, k
	}
	p := &pki{caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	srvDER, srvKey := issue(2, "localhost", x509.ExtKeyUsageServerAuth)
	p.serverCert = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	cliDER, cliKey := issue(3, "client", x509.ExtKeyUsageClientAuth)
	p.clientPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cliDER}))
	keyDER, err := x509.MarshalPKCS8PrivateKey(cliKey)
	if err != nil {
		tb.Fatal(err)
	}
	p.clientKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return p
}

// fakeServer speaks just enough of the PostgreSQL protocol on a loopback
// port: it answers an SSLRequest ('S' with tlsConfig, else 'N'), asks for
// a cleartext password, records it, and refuses it with SQLSTATE 28P01.
type fakeServer struct {
	port      int64
	tlsConfig *tls.Config

	mu        sync.Mutex
	passwords []string
	overTLS   []bool
}

func startFakeServer(t *testing.T, tlsConfig *tls.Config) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{port: int64(ln.Addr().(*net.TCPAddr).Port), tlsConfig: tlsConfig}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				f.serve(conn)
			})
		}
	})
	return f
}

func (f *fakeServer) serve(conn net.Conn) {
	var c net.Conn = conn
	be := pgproto3.NewBackend(c, c)
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		return
	}
	tlsUsed := false
	if _, ok := msg.(*pgproto3.SSLRequest); ok {
		if f.tlsConfig == nil {
			conn.Write([]byte{'N'})
			// A client that insists on TLS hangs up here; one that
			// does not would go on in plaintext, which is recorded.
		} else {
			conn.Write([]byte{'S'})
			tc := tls.Server(conn, f.tlsConfig)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			tlsUsed = true
		}
		be = pgproto3.NewBackend(c, c)
		if msg, err = be.ReceiveStartupMessage(); err != nil {
			return
		}
	}
	if _, ok := msg.(*pgproto3.StartupMessage); !ok {
		return
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
		return
	}
	pm, err := be.Receive()
	if err != nil {
		return
	}
	if pw, ok := pm.(*pgproto3.PasswordMessage); ok {
		f.mu.Lock()
		f.passwords = append(f.passwords, pw.Password)
		f.overTLS = append(f.overTLS, tlsUsed)
		f.mu.Unlock()
	}
	be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01",
		Message: `password authentication failed for user "alice"`})
	be.Flush()
}

// received returns the passwords the server got and whether over TLS.
func (f *fakeServer) received() ([]string, []bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.passwords...), append([]bool(nil), f.overTLS...)
}

// TestTLSModes runs every sslmode against a fake TLS server whose
// certificate is for "localhost" only. A connection whose TLS is accepted
// reaches authentication, which the server refuses (EAUTH); one whose TLS
// is refused ends in ETLS. The password is sent only over accepted TLS.
func TestTLSModes(t *testing.T) {
	p := MustPKI(t)
	other := MustPKI(t)
	srv := startFakeServer(t, &tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12})
	mtls := startFakeServer(t, &tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool})
	plaintext := startFakeServer(t, nil)
	withKey := MustSecrets(t, map[string]string{"password": canary, "client_key": p.clientKey})
	passwordOnly := MustSecrets(t, map[string]string{"password": canary})

	tests := []struct {
		name     string
		server   *fakeServer
		host     string
		mode     string
		ca       string
		client   bool
		wantCode string
	}{
		{"require without CA accepts any certificate, not a cleartext password request", srv, "127.0.0.1", "require", "", false, connect.ECONFIG},
		{"require with CA checks the chain, not the name: no cleartext password", srv, "127.0.0.1", "require", p.caPEM, false, connect.ECONFIG},
		{"require with another CA fails", srv, "127.0.0.1", "require", other.caPEM, false, connect.ETLS},
		{"verify-ca ignores the host name: no cleartext password", srv, "127.0.0.1", "verify-ca", p.caPEM, false, connect.ECONFIG},
		{"verify-ca with another CA fails", srv, "127.0.0.1", "verify-ca", other.caPEM, false, connect.ETLS},
		{"verify-ca with system roots fails", srv, "127.0.0.1", "verify-ca", "", false, connect.ETLS},
		{"verify-full checks the host name", srv, "127.0.0.1", "verify-full", p.caPEM, false, connect.ETLS},
		{"verify-full with the right name", srv, "localhost", "verify-full", p.caPEM, false, connect.EAUTH},
		{"verify-full with another CA fails", srv, "localhost", "verify-full", other.caPEM, false, connect.ETLS},
		{"verify-full with system roots fails", srv, "localhost", "verify-full", "", false, connect.ETLS},
		{"client certificate accepted", mtls, "localhost", "verify-full", p.caPEM, true, connect.EAUTH},
		{"client certificate missing", mtls, "localhost", "verify-full", p.caPEM, false, connect.ETLS},
		{"server refuses TLS: require", plaintext, "127.0.0.1", "require", "", false, connect.ETLS},
		{"server refuses TLS: verify-full", plaintext, "localhost", "verify-full", p.caPEM, false, connect.ETLS},
		{"disable never sends a cleartext password", plaintext, "127.0.0.1", "disable", "", false, connect.ECONFIG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := tt.server.received()
			settings := map[string]any{"host": tt.host, "port": tt.server.port, "database": "db", "user": "alice", "sslmode": tt.mode}
			secrets := passwordOnly
			if tt.ca != "" {
				settings["ca_cert"] = tt.ca
			}
			if tt.client {
				settings["client_cert"] = p.clientPEM
				secrets = withKey
			}
			c, dc, err := newConnector(t, server{}, options{settings: settings, secrets: &secrets})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			err = c.Ping(t.Context())
			if code(err) != tt.wantCode {
				t.Fatalf("Ping error = %v, want code %s", err, tt.wantCode)
			}
			assertNoSecret(t, err)
			if dc.n.Load() == 0 {
				t.Error("the connector did not dial through the given dialer")
			}
			after, overTLS := tt.server.received()
			sent := after[len(before):]
			switch {
			case (tt.wantCode == connect.ETLS || tt.wantCode == connect.ECONFIG) && len(sent) > 0:
				t.Errorf("the password was sent (%s): TLS failed or did not verify the server's name", tt.wantCode)
			case tt.wantCode == connect.EAUTH && (len(sent) == 0 || sent[0] != canary):
				t.Errorf("the server received passwords %q, want the configured one", sent)
			case tt.wantCode == connect.EAUTH && overTLS[len(before)] != (tt.mode != "disable"):
				t.Errorf("password sent over TLS = %v with sslmode %s", overTLS[len(before)], tt.mode)
			}
		})
	}
}

// TestTLSRealServer uses the test server's own TLS, when it has it (the
// Debian packages turn it on with a self-signed certificate).
func TestTLSRealServer(t *testing.T) {
	s := MustServer(t)
	plain := plainConn(t, s)
	var ssl string
	if err := plain.QueryRow(t.Context(), "SHOW ssl").Scan(&ssl); err != nil || ssl != "on" {
		testenv.Skipf(t, "the test server does not offer TLS (ssl = %q, %v)", ssl, err)
	}
	t.Run("require encrypts", func(t *testing.T) {
		c, _ := MustConnector(t, s, options{settings: map[string]any{"sslmode": "require"}})
		got, _ := MustQuery(t, c, connect.Request{Query: "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"})
		if !equal(got.rows, [][]any{{true}}) {
			t.Errorf("pg_stat_ssl.ssl = %v, want true", got.rows)
		}
	})
	t.Run("cancel over TLS", func(t *testing.T) {
		c, dc := MustConnector(t, s, options{settings: map[string]any{"sslmode": "require"}, maxConns: 1})
		MustQuery(t, c, connect.Request{Query: "SELECT 1"})
		dials := dc.n.Load()
		marker := uniqueName(t)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Query(ctx, connect.Request{Query: "SELECT pg_sleep(30) /* " + marker + " */"}, &sink{})
		if code(err) != connect.ETIMEOUT {
			t.Fatalf("error = %v, want %s", err, connect.ETIMEOUT)
		}
		waitNoActive(t, plain, marker)
		if dc.n.Load() == dials {
			t.Error("the cancel request did not dial through the given dialer")
		}
	})
	var certPEM string
	if err := plain.QueryRow(t.Context(), "SELECT pg_read_file(current_setting('ssl_cert_file'))").Scan(&certPEM); err != nil {
		testenv.Skipf(t, "cannot read the server's certificate (%v); verify-ca not tested against it", err)
	}
	t.Run("verify-ca with the server's certificate", func(t *testing.T) {
		c, _ := MustConnector(t, s, options{settings: map[string]any{"sslmode": "verify-ca", "ca_cert": certPEM}})
		if err := c.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}
