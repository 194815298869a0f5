package instance_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// helperDirEnv names the data dir TestHelperRotateProcess rotates. It is
// set only in the child processes TestRotateKilled starts.
const helperDirEnv = "QG_TEST_ROTATE_HELPER_DIR"

// helperStepDelay is how long the helper process sleeps before each
// rotation step, so that a kill lands somewhere inside the rotation.
const helperStepDelay = 20 * time.Millisecond

// TestHelperRotateProcess is not a test: run as a child process by
// TestRotateKilled, it opens the data dir it is given and rotates its key,
// slowly, until it is killed.
func TestHelperRotateProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process for TestRotateKilled")
	}
	ctx := t.Context()
	d := dataDir(dir)
	st, err := sqlite.Open(ctx, d.DB())
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	in, err := instance.Open(ctx, st, instance.Options{KeyFile: d.KeyFile()})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	id, n, err := in.Rotate(ctx, st, instance.RotateOptions{Step: func(string) error {
		time.Sleep(helperStepDelay)
		return nil
	}})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("done", id, n)
	st.Close()
}

// TestRotateKilled kills a rotating process with SIGKILL at several points
// of its rotation, over and over on one data dir. After each kill a fresh
// instance must open every secret and verify the store; at the end, a
// rotation must finish.
func TestRotateKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const n = 8
	d, st, in := MustNewDataDir(t)
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, n, want)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// One rotation has 2+n+2+n+3 steps; the delays cover its start, its
	// middle and (for the last ones) a run that may finish.
	delays := []time.Duration{0, 5 * time.Millisecond, 30 * time.Millisecond, 70 * time.Millisecond,
		130 * time.Millisecond, 200 * time.Millisecond, 280 * time.Millisecond, 360 * time.Millisecond, 600 * time.Millisecond}
	var interrupted, finished int
	for i, delay := range delays {
		outcome := killRotation(t, d, delay)
		switch outcome {
		case "killed":
			interrupted++
		case "done":
			finished++
		}

		st := MustOpenStore(t, d)
		fresh := MustOpen(t, st, d, instance.Options{})
		checkSecrets(t, st, fresh.Envelope, want)
		checkVerify(t, st, fresh, 2+n)
		ring := mustReadKeyFile(t, d.KeyFile())
		primary := storePrimary(t, st)
		if !ring.Has(primary) {
			t.Errorf("kill %d: the store names primary %q, which the key file %v lacks", i, primary, ring.IDs())
		}
		t.Logf("kill %d after %v: %s; key file %v, store primary %s", i, delay, outcome, ring.IDs(), primary)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d rotations interrupted, %d finished before the kill", interrupted, finished)

	st = MustOpenStore(t, d)
	in = MustOpen(t, st, d, instance.Options{})
	newID, _, err := in.Rotate(t.Context(), st, instance.RotateOptions{})
	if err != nil {
		t.Fatalf("Rotate after the kills: %v", err)
	}
	checkRotated(t, d, st, newID, want)
}

// killRotation starts TestHelperRotateProcess on d, waits until it has
// opened the instance, lets it rotate for delay and kills it with SIGKILL.
// It returns "killed", or "done" if the rotation finished first.
func killRotation(t *testing.T, d dataDir, delay time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperRotateProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+string(d))
	cmd.Dir = filepath.Dir(string(d))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var tail []string
	wait := func(prefix string, timeout <-chan time.Time) (string, bool) {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return "", false
				}
				tail = append(tail, l)
				if strings.HasPrefix(l, "error:") {
					t.Errorf("helper: %s", l)
				}
				if strings.HasPrefix(l, prefix) {
					return l, true
				}
			case <-timeout:
				return "", false
			}
		}
	}
	if _, ok := wait("ready", time.After(20*time.Second)); !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not start: %v", tail)
	}
	_, done := wait("done", time.After(delay))
	outcome := "done"
	if !done {
		outcome = "killed"
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatalf("kill helper: %v", err)
		}
	}
	for range lines {
	}
	err = cmd.Wait()
	if outcome == "killed" && (err == nil || !strings.Contains(err.Error(), "killed")) {
		// The rotation may have ended between the timer and the kill.
		if err == nil {
			outcome = "done"
		} else {
			t.Errorf("helper: %v (output %v)", err, tail)
		}
	}
	if outcome == "done" && err != nil {
		t.Errorf("helper: %v (output %v)", err, tail)
	}
	return outcome
}
