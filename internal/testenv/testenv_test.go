package testenv

import (
	"testing"
	"time"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of
// stopping the test.
type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Helper()                       {}
func (r *recorder) Fatalf(string, ...any)         { r.failed = true }
func (r *recorder) Skipf(format string, _ ...any) { r.skipped = true }

func TestSkipf(t *testing.T) {
	for _, tt := range []struct {
		ci                 string
		wantFail, wantSkip bool
	}{
		{ci: "true", wantFail: true},
		{ci: "", wantSkip: true},
		{ci: "false", wantSkip: true},
	} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			Skipf(r, "no %s", "thing")
			if r.failed != tt.wantFail || r.skipped != tt.wantSkip {
				t.Errorf("failed, skipped = %v, %v; want %v, %v", r.failed, r.skipped, tt.wantFail, tt.wantSkip)
			}
		})
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	r := &recorder{TB: t}
	WaitFor(r, time.Second, "three calls", func() bool { n++; return n == 3 })
	if r.failed || n != 3 {
		t.Errorf("failed %v after %d calls; want a pass after 3", r.failed, n)
	}
	r = &recorder{TB: t}
	WaitFor(r, 50*time.Millisecond, "never", func() bool { return r.failed })
	if !r.failed {
		t.Error("WaitFor did not fail on a condition that never holds")
	}
}
