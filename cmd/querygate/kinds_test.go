package main

import (
	"testing"

	"github.com/querygate/querygate/internal/kind"
)

// TestKindsComplete: every kind main lists can be decoded and opened, and
// every kind that dials (a host or base URL among its fields) tells the
// egress pre-check where and whether its TLS is verified.
func TestKindsComplete(t *testing.T) {
	reg := kinds([]string{"/"})
	if len(reg.All()) == 0 {
		t.Fatal("no kinds")
	}
	for _, k := range reg.All() {
		if k.Decode == nil || k.Open == nil {
			t.Errorf("%s: no Decode or Open", k.Name)
		}
		if (k.Shape == kind.SQL) != (k.Dialect != "") {
			t.Errorf("%s: shape %d with dialect %q", k.Name, k.Shape, k.Dialect)
		}
		dials := false
		for _, f := range k.Fields {
			dials = dials || f.Type == kind.TypeHost || f.Type == kind.TypeURL
		}
		if dials && (k.Destination == nil || k.VerifiedTLS == nil) {
			t.Errorf("%s: dials but has no Destination or VerifiedTLS", k.Name)
		}
	}
}
