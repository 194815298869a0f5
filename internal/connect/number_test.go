package connect

import (
	"encoding/json"
	"testing"
)

func TestValidNumber(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "-1": true, "12.5": true, "1e10": true, "-2.5E-3": true, "9007199254740993": true,
		"": false, "-": false, "1.": false, ".5": false, "1e": false, "+1": false, "1 ": false, "0x10": false, "1;DROP": false, "NaN": false, "01": false, "-00": false, "0.01": true} {
		if got := ValidNumber(s); got != want {
			t.Errorf("ValidNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzValidNumber: whatever ValidNumber accepts, encoding/json reads as a
// number too.
func FuzzValidNumber(f *testing.F) {
	for _, s := range []string{"0", "-1.5e3", "1;", "01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidNumber(s) {
			return
		}
		var n json.Number
		if err := json.Unmarshal([]byte(s), &n); err != nil {
			t.Fatalf("ValidNumber(%q) but JSON says %v", s, err)
		}
	})
}
