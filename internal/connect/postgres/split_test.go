package postgres

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" ;\n; ", nil},
		{"SELECT 1", []string{"SELECT 1"}},
		{"SELECT 1; SELECT 2;", []string{"SELECT 1", " SELECT 2"}},
		{"SELECT ';'; SELECT 2", []string{"SELECT ';'", " SELECT 2"}},
		{"SELECT 'it''s;'; COMMIT", []string{"SELECT 'it''s;'", " COMMIT"}},
		{`SELECT E'\';'; COMMIT`, []string{`SELECT E'\';'`, " COMMIT"}},
		{`SELECT '\'; COMMIT`, []string{`SELECT '\'`, " COMMIT"}},
		{`SELECT ";"; COMMIT`, []string{`SELECT ";"`, " COMMIT"}},
		{"SELECT $$;$$; COMMIT", []string{"SELECT $$;$$", " COMMIT"}},
		{"SELECT $a$ $$;$$ ;$a$; COMMIT", []string{"SELECT $a$ $$;$$ ;$a$", " COMMIT"}},
		{"SELECT $1; COMMIT", []string{"SELECT $1", " COMMIT"}},
		{"SELECT 1 -- ;\n; COMMIT", []string{"SELECT 1 -- ;\n", " COMMIT"}},
		{"SELECT 1 /* ; /* ; */ ; */; COMMIT", []string{"SELECT 1 /* ; /* ; */ ; */", " COMMIT"}},
		{"SELECT 'unterminated; COMMIT", []string{"SELECT 'unterminated; COMMIT"}},
		{"DO $$BEGIN PERFORM 1; END$$; SELECT 2", []string{"DO $$BEGIN PERFORM 1; END$$", " SELECT 2"}},
		{"SELECT a$b; COMMIT", []string{"SELECT a$b", " COMMIT"}},
	} {
		if got := SplitStatements(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("SplitStatements(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzSplitStatements: the pieces are, in order, parts of the text that
// are not blank, and the text is the pieces joined by semicolons (with
// blank pieces between).
func FuzzSplitStatements(f *testing.F) {
	for _, s := range []string{"SELECT 1; SELECT 2", "SELECT $$;$$", "E'\\';'", "/* /* */ ; */", "-- ;\n;", `"a;b";`, "$a$ $b$ $a$;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pieces := SplitStatements(s)
		rest := s
		for _, p := range pieces {
			if blank(p) {
				t.Fatalf("blank piece %q", p)
			}
			i := strings.Index(rest, p)
			if i < 0 {
				t.Fatalf("piece %q not in order in %q", p, s)
			}
			if !blank(strings.ReplaceAll(rest[:i], ";", "")) {
				t.Fatalf("text %q dropped before %q", rest[:i], p)
			}
			rest = rest[i+len(p):]
		}
		if !blank(strings.ReplaceAll(rest, ";", "")) {
			t.Fatalf("text %q dropped at the end", rest)
		}
	})
}
