package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildBinary builds the querygate binary into a temporary directory, for
// tests that run it as a separate process (signals, crashes, replicas).
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "querygate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// addAdmin creates the admin user of a data directory with the binary.
func addAdmin(t *testing.T, bin string, args ...string) {
	t.Helper()
	add := exec.Command(bin, append([]string{"user", "add", "--username", "admin", "--role", "admin"}, args...)...)
	add.Stdin = strings.NewReader(adminPassword + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
}

// process is a gateway running as its own process, with a client logged
// in as the admin.
type process struct {
	cmd  *exec.Cmd
	addr string
	base string
	hc   *http.Client
	logs *syncBuffer
}

// startProcess starts the binary on a free loopback port with args, and
// waits until the admin can log in.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &process{addr: addr, base: "http://" + addr, logs: &syncBuffer{}}
	p.cmd = exec.Command(bin, append([]string{"--listen", addr}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	jar, _ := cookiejar.New(nil)
	p.hc = &http.Client{Jar: jar}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := p.post(t.Context(), "/api/login", fmt.Sprintf(`{"username":"admin","password":%q}`, adminPassword))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not start: %v\n%s", err, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends a JSON body as the logged-in admin.
func (p *process) post(ctx context.Context, path, body string) (*http.Response, error) {
	return p.send(ctx, "POST", path, body)
}

func (p *process) send(ctx context.Context, method, path, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return p.hc.Do(req)
}
