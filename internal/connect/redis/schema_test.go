package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"

	"github.com/querygate/querygate/internal/connect/redis"
	"github.com/querygate/querygate/internal/schema"
)

// schemaDB is the database number the schema tests fill: a scan sees the
// whole database, so these tests keep to one of their own.
const schemaDB = 14

// schemaKeys makes keys in schemaDB under a prefix of letters only (so
// that it survives as is in the patterns), deleted when the test ends.
func schemaKeys(t testing.TB, s *server, setup func(ctx context.Context, c *goredis.Client, prefix string)) string {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", s.host, s.port), DB: schemaDB, Protocol: 3})
	var b strings.Builder
	for range 10 {
		b.WriteByte(byte('a' + rand.IntN(26)))
	}
	prefix := "qgschema" + b.String()
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	setup(t.Context(), c, prefix)
	return prefix
}

func findPattern(sc *schema.Schema, name string) *schema.Table {
	for _, n := range sc.Schemas {
		for i := range n.Tables {
			if n.Tables[i].Name == name {
				return &n.Tables[i]
			}
		}
	}
	return nil
}

func TestSchemaScan(t *testing.T) {
	s := MustServer(t)
	prefix := schemaKeys(t, s, func(ctx context.Context, c *goredis.Client, p string) {
		for i := range 3 {
			c.HSet(ctx, fmt.Sprintf("%s:user:%d", p, 100+i), "name", "x")
		}
		c.Set(ctx, p+":session:6f1c2a9e-2b7d-4a53-9c1e-0d3f5a7b9c11", "v", 0)
		c.Set(ctx, p+":session:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "v", 0)
		c.RPush(ctx, p+":queue", "job")
	})
	settings := s.settings()
	settings["db"] = int64(schemaDB)

	// Off (the default): nothing is scanned, an empty schema.
	off, _ := MustConnector(t, options{settings: settings})
	sc, err := off.Schema(t.Context(), schema.Limits{})
	if err != nil || len(sc.Schemas) != 0 || sc.Truncated {
		t.Fatalf("schema_scan off: %+v %v, want an empty schema", sc, err)
	}

	settings["schema_scan"] = true
	c, _ := MustConnector(t, options{settings: settings, readOnly: true})
	sc, err = c.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if len(sc.Schemas) != 1 || sc.Schemas[0].Name != fmt.Sprintf("db%d", schemaDB) || sc.Truncated {
		t.Fatalf("got %+v, want one namespace db%d, whole", sc, schemaDB)
	}
	for _, want := range []struct {
		pattern, typ string
		n            int64
	}{
		{prefix + ":user:*", "hash", 3},
		{prefix + ":session:*", "string", 2},
		{prefix + ":queue", "list", 1},
	} {
		tb := findPattern(sc, want.pattern)
		if tb == nil || tb.Kind != schema.KindKeyPattern || tb.RowsEstimate == nil || *tb.RowsEstimate != want.n ||
			len(tb.Columns) != 1 || tb.Columns[0].Type != want.typ {
			t.Errorf("%s: %+v, want %d keys of type %s", want.pattern, tb, want.n, want.typ)
		}
	}

	// A user the server lets SCAN but not TYPE (an ACL's NOPERM) sees the
	// patterns without their types, not an error.
	const pw = "schema-user-pw"
	settings["username"] = s.MustUser(t, pw, "~*", "+scan", "+select", "+client|setname")
	limited, _ := MustConnector(t, options{settings: settings, secrets: map[string]any{"password": pw}})
	sc, err = limited.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("without TYPE: %v", err)
	}
	if tb := findPattern(sc, prefix+":user:*"); err != nil || tb == nil || len(tb.Columns) != 1 || tb.Columns[0].Type != "" {
		t.Errorf("without TYPE: %+v %v", tb, err)
	}
	delete(settings, "username")

	// Beyond the key limit the scan stops: truncated, no counts.
	schemaKeys(t, s, func(ctx context.Context, c *goredis.Client, p string) {
		for i := range 300 {
			c.Set(ctx, fmt.Sprintf("%s:item:%d", p, i), "v", 0)
		}
	})
	sc, err = c.Schema(t.Context(), schema.Limits{MaxKeys: 50})
	if err != nil || !sc.Truncated {
		t.Fatalf("key limit: %+v %v, want truncated", sc, err)
	}
	for _, n := range sc.Schemas {
		for _, tb := range n.Tables {
			if tb.RowsEstimate != nil {
				t.Errorf("%s: an estimate from a partial scan", tb.Name)
			}
		}
	}
	if sc, err = c.Schema(t.Context(), schema.Limits{MaxTables: 1}); err != nil || !sc.Truncated {
		t.Fatalf("table limit: %+v %v, want truncated", sc, err)
	} else if tables, _ := sc.Count(); tables != 1 {
		t.Fatalf("table limit: %d patterns, want 1", tables)
	}
}

func TestKeyPattern(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"user:42", "user:*"},
		{"user:42:orders:7", "user:*:orders:*"},
		{"session:6f1c2a9e-2b7d-4a53-9c1e-0d3f5a7b9c11", "session:*"},
		{"cache:9f86d081884c7d659a2feaa0c55ad015", "cache:*"},
		{"cache:deadbeefcafe", "cache:deadbeefcafe"},
		{"queue", "queue"},
		{"a\xffb", "a*b"},
		{"v1.2.3", "v*.*.*"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "*"},
	} {
		if got := redis.KeyPattern(tc.key); got != tc.want {
			t.Errorf("KeyPattern(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func FuzzKeyPattern(f *testing.F) {
	for _, s := range []string{"user:1", "session:6f1c2a9e-2b7d-4a53-9c1e-0d3f5a7b9c11", "\xff\xfe", strings.Repeat("x1", 300), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p := redis.KeyPattern(key)
		if !utf8.ValidString(p) || len(p) > 201 || strings.ContainsAny(p, "0123456789") || strings.Contains(p, "**") {
			t.Fatalf("KeyPattern(%q) = %q", key, p)
		}
		if redis.KeyPattern(p) != p {
			t.Fatalf("KeyPattern is not stable on %q: %q then %q", key, p, redis.KeyPattern(p))
		}
	})
}

// BenchmarkSchemaScan measures a schema scan of 1,000 keys whose patterns
// all differ (the worst case: one TYPE per key) beside one of 1,000 keys
// of one pattern.
func BenchmarkSchemaScan(b *testing.B) {
	s := MustServer(b)
	settings := s.settings()
	settings["db"], settings["schema_scan"] = int64(schemaDB), true
	c, _ := MustConnector(b, options{settings: settings})
	for _, tc := range []struct {
		name string
		key  func(i int) string
	}{
		{"distinct", func(i int) string {
			var k strings.Builder
			for n := i + 1; n > 0; n /= 26 {
				k.WriteByte(byte('a' + n%26))
			}
			return k.String()
		}},
		{"one_pattern", func(i int) string { return fmt.Sprintf("item:%d", i) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			schemaKeys(b, s, func(ctx context.Context, cl *goredis.Client, p string) {
				pipe := cl.Pipeline()
				for i := range 1000 {
					pipe.Set(ctx, p+":"+tc.key(i), "v", 0)
				}
				pipe.Exec(ctx)
			})
			for b.Loop() {
				if _, err := c.Schema(b.Context(), schema.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
