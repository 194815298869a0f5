package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/instance"
)

// TestRotateWhileServing rotates the master key with the real subcommand
// while clients keep creating, updating (which opens and re-seals secrets)
// and reading datasources through a running gateway. Afterwards keys verify
// passes, the key file holds one key, and every secret opens to the last
// value written.
func TestRotateWhileServing(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	admin := g.MustSetup(nil)

	var mu sync.Mutex
	want := map[string]string{} // datasource id -> password
	create := func(c *client, name, pw string) {
		d := c.must(201, "POST", "/api/datasources", map[string]any{"name": name, "kind": "redis",
			"settings": map[string]any{"host": "127.0.0.1"}, "secrets": map[string]any{"password": pw}})
		mu.Lock()
		want[d["id"].(string)] = pw
		mu.Unlock()
	}
	var ids []string
	for i := range 6 {
		create(admin, fmt.Sprintf("ds-%d", i), fmt.Sprintf("pw-%d-0", i))
	}
	for id := range want {
		ids = append(ids, id)
	}

	var ops atomic.Int64
	waitOps := func(n int64) {
		for start := ops.Load(); ops.Load() < start+n; {
			time.Sleep(time.Millisecond)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, id := range ids {
		wg.Go(func() {
			c := g.client(nil)
			c.must(200, "POST", "/api/login", map[string]string{"username": "admin", "password": adminPassword})
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				pw := fmt.Sprintf("pw-%d-%d", w, n)
				// Keep one other secret field untouched so that the
				// update must open the stored blob and re-seal it.
				c.must(200, "PATCH", "/api/datasources/"+id, map[string]any{"secrets": map[string]any{"password": pw}})
				mu.Lock()
				want[id] = pw
				mu.Unlock()
				ops.Add(1)
				c.must(200, "GET", "/api/datasources/"+id, nil)
			}
		})
	}
	wg.Go(func() {
		c := g.client(nil)
		c.must(200, "POST", "/api/login", map[string]string{"username": "admin", "password": adminPassword})
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			create(c, fmt.Sprintf("new-%d", n), fmt.Sprintf("new-pw-%d", n))
		}
	})

	for range 2 {
		waitOps(20) // writers are busy before, during and after each rotation
		r := MustRun(t, dir, nil, "keys", "rotate")
		if !strings.Contains(r.logs.String(), "rotated to master key") {
			t.Fatalf("rotate output: %s", r.logs)
		}
	}
	waitOps(20)
	close(stop)
	wg.Wait()
	t.Logf("%d updates ran beside two rotations", ops.Load())

	v := MustRun(t, dir, nil, "keys", "verify")
	if !strings.Contains(v.logs.String(), ": 0 failed") {
		t.Fatalf("verify: %s", v.logs)
	}
	ring, err := instance.ReadKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ring.IDs()); got != 1 {
		t.Fatalf("key file holds %d keys after rotation, want 1", got)
	}
	// The rotations released their lock: another one could take it now.
	lock, err := os.OpenFile(filepath.Join(dir, "master.key.lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("the rotations left no lock file: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the key file is still locked after the rotations: %v", err)
	}
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	// The serving gateway follows the rotation: it opens and re-seals.
	admin.must(200, "PATCH", "/api/datasources/"+ids[0], map[string]any{"secrets": map[string]any{"client_key": nil}})

	svc := datasource.NewService(datasource.ServiceOptions{Store: g.m.db, Envelope: g.m.inst.Envelope})
	if len(want) < 7 {
		t.Fatalf("only %d datasources written", len(want))
	}
	for id, pw := range want {
		s, err := svc.OpenSecrets(t.Context(), id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got, _ := s.Get("password"); got.Reveal() != pw {
			t.Errorf("%s: got password %q, want %q", id, got.Reveal(), pw)
		}
	}
}
