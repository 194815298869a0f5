package kit

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	th := NewThrottle()
	th.now = func() time.Time { return now }
	// Three free failures for an account, then waits of 1 s, 2 s, 4 s ...
	for i := range 3 {
		if w := th.Wait("Ann", "10.0.0.1"); w != 0 {
			t.Fatalf("attempt %d waited %v", i, w)
		}
		th.Failed("ann", "10.0.0.1")
	}
	for i, want := range []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second} {
		if w := th.Wait("ANN", "10.0.0.9"); w != want {
			t.Fatalf("after %d failures: wait %v, want %v (names are case-insensitive)", 3+i, w, want)
		}
		now = now.Add(want)
		th.Failed("ann", "10.0.0.9")
	}
	// Another account from a fresh address is not slowed.
	if w := th.Wait("bob", "10.0.0.2"); w != 0 {
		t.Fatalf("another account waited %v", w)
	}
	// The cap.
	for range 40 {
		th.Failed("ann", "10.0.0.9")
	}
	if w := th.Wait("ann", "10.0.0.3"); w != th.maxDelay {
		t.Fatalf("wait %v, want the cap %v", w, th.maxDelay)
	}
	// A success clears the account, not the address.
	th.Succeeded("ann")
	if w := th.Wait("ann", "10.0.0.3"); w != 0 {
		t.Fatalf("after success: wait %v", w)
	}
	if w := th.Wait("carol", "10.0.0.9"); w == 0 {
		t.Fatal("the guessing address was cleared by another account's success")
	}
	// Old entries are swept.
	now = now.Add(2 * time.Hour)
	th.sweep(now)
	if len(th.entries) != 0 {
		t.Fatalf("%d entries left after an idle hour", len(th.entries))
	}
}
