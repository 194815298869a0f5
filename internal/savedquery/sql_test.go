package savedquery

import (
	"reflect"
	"strings"
	"testing"

	"github.com/querygate/querygate"
)

func TestParseSQL(t *testing.T) {
	for _, tc := range []struct {
		dialect, src, want string
		names              []string
	}{
		{Postgres, "SELECT * FROM t WHERE id = :id AND n > :id", "SELECT * FROM t WHERE id = $1 AND n > $1", []string{"id"}},
		{MySQL, "SELECT * FROM t WHERE id = :id AND n > :id", "SELECT * FROM t WHERE id = ? AND n > ?", []string{"id", "id"}},
		{SQLite, "SELECT :a, :b_2", "SELECT ?, ?", []string{"a", "b_2"}},
		{Postgres, "SELECT :a::int, x::text FROM t", "SELECT $1::int, x::text FROM t", []string{"a"}},
		{Postgres, "SELECT ':no', \":no\", 'it''s :no' -- :no\n, :yes", "SELECT ':no', \":no\", 'it''s :no' -- :no\n, $1", []string{"yes"}},
		{Postgres, "SELECT /* :no /* nested :no */ :no */ :yes", "SELECT /* :no /* nested :no */ :no */ $1", []string{"yes"}},
		{Postgres, "SELECT $$ :no $$, $tag$ :no $x$ $tag$, :yes", "SELECT $$ :no $$, $tag$ :no $x$ $tag$, $1", []string{"yes"}},
		{Postgres, "SELECT E'a\\' :no', :yes", "SELECT E'a\\' :no', $1", []string{"yes"}},
		{Postgres, "SELECT 'a\\', :yes", "SELECT 'a\\', $1", []string{"yes"}}, // standard strings: no backslash escapes
		{MySQL, "SELECT 'a\\' :no', `:no`, \"x\\\" :no\", :yes # :no", "SELECT 'a\\' :no', `:no`, \"x\\\" :no\", ? # :no", []string{"yes"}},
		{SQLite, "SELECT [:no], `:no`, :yes", "SELECT [:no], `:no`, ?", []string{"yes"}},
		{MySQL, "SELECT @v := :x", "SELECT @v := ?", []string{"x"}},
		{Postgres, "SELECT a[1:2] FROM t", "SELECT a[1:2] FROM t", nil},
		{Postgres, "SELECT 'é :no', :no_é", "", nil}, // a non-ASCII name is refused
	} {
		st, err := ParseSQL(tc.src, tc.dialect)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s %q: got %q, want an error", tc.dialect, tc.src, st.Text)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", tc.dialect, tc.src, err)
			continue
		}
		if st.Text != tc.want || !reflect.DeepEqual(st.Names, tc.names) {
			t.Errorf("%s %q: got %q %v, want %q %v", tc.dialect, tc.src, st.Text, st.Names, tc.want, tc.names)
		}
	}
}

func TestParseSQLRefuses(t *testing.T) {
	for _, tc := range []struct{ dialect, src string }{
		{Postgres, "SELECT 'open"},
		{Postgres, `SELECT "open`},
		{Postgres, "SELECT /* open"},
		{Postgres, "SELECT /* /* */ still open"},
		{Postgres, "SELECT $x$ open"},
		{Postgres, "SELECT $1"},
		{MySQL, "SELECT ?"},
		{SQLite, "SELECT ?1"},
		{SQLite, "SELECT @name"},
		{SQLite, "SELECT $name"},
		{MySQL, "SELECT `open"},
		{MySQL, "SELECT 'a\\'"},
		{Postgres, "SELECT :Upper"},
		{Postgres, "SELECT 1\x00"},
		{"oracle", "SELECT 1"},
	} {
		st, err := ParseSQL(tc.src, tc.dialect)
		if err == nil {
			t.Errorf("%s %q: got %q, want an error", tc.dialect, tc.src, st.Text)
			continue
		}
		if strings.Contains(querygate.ErrorMessage(err), tc.src) {
			t.Errorf("%s %q: the message quotes the statement: %v", tc.dialect, tc.src, err)
		}
	}
}

// FuzzParseSQL: the parser never panics, and what it returns has exactly
// one positional placeholder per name outside the places it skips, and
// keeps every other byte.
func FuzzParseSQL(f *testing.F) {
	for _, s := range []string{"SELECT :a", "SELECT ':a' || :b", "SELECT $$:a$$, :b::int", "/* :a */ :b -- :c\n:d",
		"SELECT E'\\'' , :x", "SELECT `a:b`, \"c:d\", [e:f], :g", "SELECT a[1:2]", "SELECT '", "SELECT :a:b"} {
		for _, d := range []string{Postgres, MySQL, SQLite} {
			f.Add(s, d)
		}
	}
	f.Fuzz(func(t *testing.T, src, dialect string) {
		st, err := ParseSQL(src, dialect)
		if err != nil {
			return
		}
		// Parsing again yields the same text when there were no names
		// (nothing to rewrite); with names, re-parsing the MySQL/SQLite
		// form must fail (a bare ? is refused), proving each became one.
		if len(st.Names) == 0 && st.Text != src {
			t.Fatalf("no placeholders but the text changed: %q -> %q", src, st.Text)
		}
		if len(st.Names) > 0 && dialect != Postgres {
			if _, err := ParseSQL(st.Text, dialect); err == nil {
				t.Fatalf("rewritten text has no ? left: %q -> %q", src, st.Text)
			}
		}
		for _, n := range st.Names {
			if !validName(n) {
				t.Fatalf("invalid name %q from %q", n, src)
			}
		}
	})
}
