package redis_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/connect"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM string
	pool    *x509.CertPool
}

func mustCA(tb testing.TB) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "querygate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue makes a leaf certificate: a server's for 127.0.0.1 (and no host
// name), or a client's.
func (ca *testCA) issue(tb testing.TB, client bool) (certPEM, keyPEM string, pair tls.Certificate) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	pair, err = tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		tb.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

// mustTLSProxy serves TLS on a loopback port, with a certificate of ca for
// 127.0.0.1, and forwards each connection to the test Redis server. With
// clientCAs it requires a client certificate they signed.
func mustTLSProxy(tb testing.TB, srv *server, ca *testCA, clientCAs *x509.CertPool) int64 {
	tb.Helper()
	_, _, pair := ca.issue(tb, false)
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCAs
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	target := net.JoinHostPort(srv.host, itoa(srv.port))
	serveAll(tb, ln, func(in net.Conn, track func(net.Conn), spawn func(func())) {
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			return
		}
		track(out)
		spawn(func() { io.Copy(out, in); out.Close() })
		io.Copy(in, out)
		in.Close()
	})
	return int64(ln.Addr().(*net.TCPAddr).Port)
}

func itoa(n int64) string { return big.NewInt(n).String() }

func TestTLS(t *testing.T) {
	srv := MustServer(t)
	ca, other := mustCA(t), mustCA(t)
	port := mustTLSProxy(t, srv, ca, nil)
	clientCert, clientKey, _ := ca.issue(t, true)
	mtlsPort := mustTLSProxy(t, srv, ca, ca.pool)
	for _, tc := range []struct {
		name     string
		settings map[string]any
		secrets  map[string]any
		want     string // error code, or "" for a working connection
	}{
		{"verify-full", map[string]any{"port": port, "tls": "verify-full", "ca_cert": ca.certPEM}, nil, ""},
		{"verify-full wrong host name", map[string]any{"host": "localhost", "port": port, "tls": "verify-full", "ca_cert": ca.certPEM}, nil, connect.ETLS},
		{"verify-full system roots", map[string]any{"port": port, "tls": "verify-full"}, nil, connect.ETLS},
		{"verify-full other CA", map[string]any{"port": port, "tls": "verify-full", "ca_cert": other.certPEM}, nil, connect.ETLS},
		{"require", map[string]any{"port": port, "tls": "require"}, nil, ""},
		{"require checks the chain against ca_cert", map[string]any{"port": port, "tls": "require", "ca_cert": other.certPEM}, nil, connect.ETLS},
		{"require with ca_cert skips the name", map[string]any{"host": "localhost", "port": port, "tls": "require", "ca_cert": ca.certPEM}, nil, ""},
		{"require against plaintext", map[string]any{"port": plainPort(t), "tls": "require"}, nil, connect.ETLS},
		{"disable against TLS", map[string]any{"port": port}, nil, connect.EUNREACHABLE},
		{"client certificate", map[string]any{"port": mtlsPort, "tls": "verify-full", "ca_cert": ca.certPEM, "client_cert": clientCert},
			map[string]any{"client_key": clientKey}, ""},
		{"client certificate missing", map[string]any{"port": mtlsPort, "tls": "verify-full", "ca_cert": ca.certPEM}, nil, connect.ETLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			settings := srv.settings()
			for k, v := range tc.settings {
				settings[k] = v
			}
			c, dc := MustConnector(t, options{settings: settings, secrets: tc.secrets})
			err := c.Ping(t.Context())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				MustRun(t, c, "SET", srv.key("tls"), "v")
				if r := MustRun(t, c, "GET", srv.key("tls")); r.String() != `value:string | ["v"]` {
					t.Fatalf("got %s", r)
				}
			} else {
				e := mustCode(t, err, tc.want)
				if strings.Contains(e.Message, "PRIVATE") || strings.Contains(e.Message, "127.0.0.1") {
					t.Fatalf("message %s", e.Message)
				}
			}
			if dc.n.Load() == 0 {
				t.Fatal("no dial went through the egress dialer")
			}
		})
	}
}

// plainPort is a loopback port that answers every connection in plaintext
// RESP, as a Redis server without TLS does (Redis itself would wait for
// the end of a line that a ClientHello does not have).
func plainPort(tb testing.TB) int64 {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("-ERR unknown command\r\n"))
			c.Close()
		}
	})
	return int64(ln.Addr().(*net.TCPAddr).Port)
}
