package postgres_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/testenv"
)

// ownPostgres starts a PostgreSQL server of its own (initdb on this
// machine) that accepts only TLS connections, with a certificate for
// "localhost" from the test CA p. It returns the port.
func ownPostgres(t *testing.T, p *pki) int {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		testenv.Skipf(t, "initdb is not installed: the own-server TLS test needs PostgreSQL's server binaries")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	var run func(name string, args ...string) *exec.Cmd
	dir, err := os.MkdirTemp("", "qg-owntls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Skipf(t, "running as root without a postgres user to run the test server as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		run = func(name string, args ...string) *exec.Cmd {
			c := exec.Command(filepath.Join(bin, name), args...)
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			return c
		}
	} else {
		run = func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.serverCert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	files := map[string][]byte{
		"server.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.serverCert.Certificate[0]}),
		"server.key":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"pg_hba.conf": []byte("hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n"),
	}
	conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n", port, dir)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".tmp"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		// Written as the server's user (the key must be its own, 0600).
		if err := copyAs(run, filepath.Join(dir, name+".tmp"), filepath.Join(data, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := appendAs(run, filepath.Join(data, "postgresql.conf"), conf); err != nil {
		t.Fatal(err)
	}
	srv := run("postgres", "-D", data)
	logs := &bytes.Buffer{}
	srv.Stdout, srv.Stderr = logs, io.Discard
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGINT)
		srv.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			srv.Process.Kill()
			t.Fatalf("the own PostgreSQL did not start (port %d)", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// copyAs copies src to dst as run's user (so dst belongs to it), mode 0600.
func copyAs(run func(string, ...string) *exec.Cmd, src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	c := exec.Command("sh", "-c", `umask 077; cat > "$1"`, "sh", dst)
	c.SysProcAttr = run("true").SysProcAttr
	c.Stdin = bytes.NewReader(b)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("write %s: %v %s", dst, err, out)
	}
	return nil
}

func appendAs(run func(string, ...string) *exec.Cmd, path, text string) error {
	c := exec.Command("sh", "-c", `cat >> "$1"`, "sh", path)
	c.SysProcAttr = run("true").SysProcAttr
	c.Stdin = strings.NewReader(text)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("append %s: %v %s", path, err, out)
	}
	return nil
}

// TestTLSOwnServer proves verify-full against a real PostgreSQL with a
// certificate from a test CA: it succeeds with the right CA and name, and
// fails with another CA, with a name the certificate does not hold, and
// without TLS (the server accepts TLS only).
func TestTLSOwnServer(t *testing.T) {
	p, other := MustPKI(t), MustPKI(t)
	port := ownPostgres(t, p)
	for _, tc := range []struct {
		name, host, mode, ca, want string
	}{
		{"verify-full with the CA and name", "localhost", "verify-full", p.caPEM, ""},
		{"verify-ca with the CA, by address", "127.0.0.1", "verify-ca", p.caPEM, ""},
		{"verify-full with another CA", "localhost", "verify-full", other.caPEM, connect.ETLS},
		{"verify-full with the wrong name", "127.0.0.1", "verify-full", p.caPEM, connect.ETLS},
		{"no TLS", "127.0.0.1", "disable", "", "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			settings := map[string]any{"host": tc.host, "port": int64(port), "database": "postgres", "user": "postgres", "sslmode": tc.mode}
			if tc.ca != "" {
				settings["ca_cert"] = tc.ca
			}
			c, _, err := newConnector(t, server{}, options{settings: settings})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Ping(t.Context())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Ping: %v", err)
			case tc.want == "refused" && err == nil:
				t.Fatal("a plaintext connection was accepted")
			case tc.want != "" && tc.want != "refused" && code(err) != tc.want:
				t.Fatalf("Ping error = %v, want %s", err, tc.want)
			}
		})
	}
}
