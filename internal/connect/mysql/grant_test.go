package mysql_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/connect/mysql"
)

func TestParseGrant(t *testing.T) {
	for _, tc := range []struct {
		line         string
		privs, roles []string
	}{
		{"GRANT USAGE ON *.* TO `u`@`%`", []string{"USAGE"}, nil},
		{"GRANT FILE, SUPER ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*AB'", []string{"FILE", "SUPER"}, nil},
		{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION", []string{"ALL PRIVILEGES"}, nil},
		{"GRANT ALL PRIVILEGES ON `test`.* TO `u`@`%`", nil, nil},
		{"GRANT SELECT ON `db`.`t` TO `u`@`%`", nil, nil},
		{"GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION", nil, nil},
		{"GRANT `qg_r` TO `u`@`%`", nil, []string{"`qg_r`"}},
		{"GRANT `r1`@`%`,`r2`@`%` TO `u`@`%`", nil, []string{"`r1`@`%`", "`r2`@`%`"}},
		{"GRANT `we``ird`, `b` TO `u`@`%` WITH ADMIN OPTION", nil, []string{"`we``ird`", "`b`"}},
		{"GRANT `unterminated TO `u`", nil, nil},
		{"REVOKE FILE ON *.* FROM `u`", nil, nil},
		{"GRANT `r`; DROP TABLE t TO `u`", nil, nil},
	} {
		privs, roles := mysql.ParseGrant(tc.line)
		if !slices.Equal(privs, tc.privs) || !slices.Equal(roles, tc.roles) {
			t.Errorf("ParseGrant(%q) = %q, %q; want %q, %q", tc.line, privs, roles, tc.privs, tc.roles)
		}
	}
}

// FuzzParseGrant: whatever the server prints, a role parseGrant returns
// is whole quoted names (so SET ROLE gets no other text) and it never
// panics.
func FuzzParseGrant(f *testing.F) {
	for _, s := range []string{"GRANT `r` TO `u`@`%`", "GRANT `r1`@`%`,`r2`@`%` TO `u`@`%`", "GRANT FILE ON *.* TO `u`@`%`", "GRANT `a``b` TO x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		_, roles := mysql.ParseGrant(line)
		for _, r := range roles {
			if r == "" || (r[0] != '`' && r[0] != '\'') || strings.ContainsAny(r, " ;,\n") && !quotedOnly(r) {
				t.Fatalf("role %q from %q is not quoted names only", r, line)
			}
		}
	})
}

// quotedOnly reports whether r is quoted names joined by @ only.
func quotedOnly(r string) bool {
	for i := 0; i < len(r); {
		switch q := r[i]; q {
		case '`', '\'':
			j := i + 1
			for ; j < len(r); j++ {
				if r[j] == q {
					if j+1 < len(r) && r[j+1] == q {
						j++
						continue
					}
					break
				}
			}
			if j >= len(r) {
				return false
			}
			i = j + 1
		case '@':
			i++
		default:
			return false
		}
	}
	return true
}
