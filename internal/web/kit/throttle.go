package kit

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/querygate/querygate"
)

// Throttle slows password guessing down: after a few failed logins for
// one account, or from one address, each further attempt must wait a
// delay that doubles with every failure (up to maxDelay), and is answered
// 429 until then, whether the password would have been right or not. A
// success clears the account's count. Counts are kept in memory, per
// replica, and forgotten after an hour without failures.
type Throttle struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]*throttleEntry
	// free failures before delays start, per account and per address
	accountFree, addressFree int
	base, maxDelay           time.Duration
}

type throttleEntry struct {
	failures int
	until    time.Time // no attempt before this
	last     time.Time
}

const (
	throttleForget     = time.Hour
	throttleMaxEntries = 100_000
)

func NewThrottle() *Throttle {
	return &Throttle{now: time.Now, entries: map[string]*throttleEntry{},
		accountFree: 3, addressFree: 20, base: time.Second, maxDelay: 15 * time.Minute}
}

func accountKey(username string) string { return "u\x00" + strings.ToLower(username) }
func addressKey(addr string) string     { return "a\x00" + addr }

// Wait returns how long an attempt for username from addr must still
// wait (0: it may go ahead).
func (t *Throttle) Wait(username, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range []string{accountKey(username), addressKey(addr)} {
		if e, ok := t.entries[k]; ok && now.Before(e.until) {
			wait = max(wait, e.until.Sub(now))
		}
	}
	return wait
}

// Throttled is the answer to an attempt that came too early; it sets
// Retry-After.
func Throttled(w http.ResponseWriter, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return querygate.Errorf(querygate.ETHROTTLED, "Too many failed logins: try again in %d seconds.", secs)
}

// Failed counts a failed login for the account and the address.
func (t *Throttle) Failed(username, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.entries) >= throttleMaxEntries {
		t.sweep(now)
	}
	for k, free := range map[string]int{accountKey(username): t.accountFree, addressKey(addr): t.addressFree} {
		e := t.entries[k]
		if e == nil {
			if len(t.entries) >= throttleMaxEntries {
				continue // full of fresh failures: the address limit still holds
			}
			e = &throttleEntry{}
			t.entries[k] = e
		}
		e.failures++
		e.last = now
		if over := e.failures - free; over > 0 {
			d := t.base << min(over-1, 20)
			e.until = now.Add(min(d, t.maxDelay))
		}
	}
}

// Succeeded clears the account's count (not the address's: one good
// password must not reset the guessing of others from there).
func (t *Throttle) Succeeded(username string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, accountKey(username))
}

func (t *Throttle) sweep(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.last) > throttleForget && !now.Before(e.until) {
			delete(t.entries, k)
		}
	}
}
