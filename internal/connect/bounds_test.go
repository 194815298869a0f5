package connect_test

import (
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		b          connect.Bounds
		value, row int64
	}{
		{"defaults", connect.Bounds{}, connect.DefaultMaxValueBytes, connect.DefaultMaxRowBytes},
		{"both set", connect.Bounds{MaxValueBytes: 10, MaxRowBytes: 30}, 10, 30},
		// A row holds at least one value.
		{"row below value", connect.Bounds{MaxValueBytes: 50, MaxRowBytes: 30}, 50, 50},
		{"value above default row", connect.Bounds{MaxValueBytes: 100 << 20}, 100 << 20, 100 << 20},
		{"row below default value", connect.Bounds{MaxRowBytes: 1 << 20}, 1 << 20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Value(); got != tc.value {
				t.Errorf("Value() = %d, want %d", got, tc.value)
			}
			if got := tc.b.Row(); got != tc.row {
				t.Errorf("Row() = %d, want %d", got, tc.row)
			}
		})
	}
}

func TestRowMeter(t *testing.T) {
	m := connect.Bounds{MaxValueBytes: 10, MaxRowBytes: 25}.Meter()
	for i, n := range []int{10, 10, 5} {
		if err := m.Add(i, "c", n); err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
	}
	err := m.Add(3, "d", 1)
	if e, ok := err.(*querygate.Error); !ok || e.Code != querygate.ETOOLARGE || !strings.Contains(e.Message, "25 bytes") {
		t.Fatalf("row over: %v", err)
	}
	m.Reset()
	err = m.Add(1, "name", 11)
	if e, ok := err.(*querygate.Error); !ok || e.Code != querygate.ETOOLARGE || !strings.Contains(e.Message, "column 2 (name)") || !strings.Contains(e.Message, "10 bytes") {
		t.Fatalf("value over: %v", err)
	}
	if got := connect.Size(64 << 20); got != "64 MiB" {
		t.Errorf("Size = %q", got)
	}
}
