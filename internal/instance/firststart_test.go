package instance_test

import (
	"sync"
	"testing"

	"github.com/querygate/querygate/internal/instance"
)

// TestOpenConcurrentFirstStart starts two processes (two store handles and
// two instances) on one new data dir at once, both allowed to create the
// key: whatever each one does, the key file left behind must open the
// store, and any instance that started must seal what a restart can open.
func TestOpenConcurrentFirstStart(t *testing.T) {
	for trial := range 10 {
		d := dataDir(t.TempDir())
		var (
			wg   sync.WaitGroup
			ins  [2]*instance.Instance
			errs [2]error
		)
		for i := range 2 {
			st := MustOpenStore(t, d)
			wg.Go(func() {
				ins[i], errs[i] = instance.Open(t.Context(), st, instance.Options{KeyFile: d.KeyFile(), CreateKey: true})
			})
		}
		wg.Wait()
		st := MustOpenStore(t, d)
		fresh, err := instance.Open(t.Context(), st, instance.Options{KeyFile: d.KeyFile()})
		if err != nil {
			t.Fatalf("trial %d: restart after a concurrent first start (errors %v, %v): %v", trial, errs[0], errs[1], err)
		}
		for i, in := range ins {
			if in == nil {
				continue
			}
			want := newWantSecrets()
			MustCreateDatasources(t, st, in, 1, want)
			blob, _ := readSecrets(t.Context(), st, want.ids()[0])
			if _, err := fresh.Envelope.Open(blob, instance.DatasourceAD(want.ids()[0])); err != nil {
				t.Fatalf("trial %d: instance %d started, but what it seals does not open after a restart: %v", trial, i, err)
			}
		}
	}
}
