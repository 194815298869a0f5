package savedquery

import (
	"strconv"
	"strings"

	"github.com/querygate/querygate"
)

// Dialects of SQL, named like the datasource kinds.
const (
	Postgres = "postgres" // placeholders $1, $2, ...; E'..' strings, $tag$..$tag$, nested /* */
	MySQL    = "mysql"    // placeholders ?; backslash escapes in '..' and "..", `..`, # comments
	SQLite   = "sqlite"   // placeholders ?; `..` and [..] identifiers
)

// Statement is a saved SQL statement with its :name placeholders replaced
// by the dialect's positional ones.
type Statement struct {
	// Text is the statement to send.
	Text string
	// Names lists, for each positional parameter in order, the name of the
	// parameter whose value it takes. PostgreSQL reuses $N for a name that
	// appears twice; MySQL and SQLite repeat the name.
	Names []string
}

// maxStatement bounds a saved statement's text.
const maxStatement = 256 << 10

// ParseSQL finds the :name placeholders of src, outside string literals,
// quoted identifiers, comments and PostgreSQL :: casts, and rewrites them
// for dialect. Values are never pasted into the text: the result only
// holds positional placeholders, which the connector binds. A positional
// placeholder already in src (?, $1) is refused, since it would take a
// value nobody declared; so is an unterminated literal or comment.
func ParseSQL(src, dialect string) (Statement, error) {
	var st Statement
	if dialect != Postgres && dialect != MySQL && dialect != SQLite {
		return st, querygate.Errorf(querygate.EINVALID, "Saved SQL queries are only for PostgreSQL, MySQL and SQLite datasources.")
	}
	if len(src) > maxStatement {
		return st, sqlError("is longer than 256 KiB")
	}
	if strings.IndexByte(src, 0) >= 0 {
		return st, sqlError("must not contain a NUL character")
	}
	var b strings.Builder
	b.Grow(len(src) + 16)
	pgIndex := map[string]int{}
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\'':
			backslash := dialect == MySQL || dialect == Postgres && i > 0 && (src[i-1] == 'E' || src[i-1] == 'e') && !identChar(before(src, i-1))
			end, ok := skipQuoted(src, i, '\'', backslash)
			if !ok {
				return st, sqlError("has a string literal that is not closed")
			}
			b.WriteString(src[i:end])
			i = end
		case c == '"':
			end, ok := skipQuoted(src, i, '"', dialect == MySQL)
			if !ok {
				return st, sqlError("has a quoted identifier that is not closed")
			}
			b.WriteString(src[i:end])
			i = end
		case c == '`' && dialect != Postgres:
			end, ok := skipQuoted(src, i, '`', false)
			if !ok {
				return st, sqlError("has a quoted identifier that is not closed")
			}
			b.WriteString(src[i:end])
			i = end
		case c == '[' && dialect == SQLite:
			end := strings.IndexByte(src[i:], ']')
			if end < 0 {
				return st, sqlError("has a quoted identifier that is not closed")
			}
			b.WriteString(src[i : i+end+1])
			i += end + 1
		case c == '-' && i+1 < len(src) && src[i+1] == '-', c == '#' && dialect == MySQL:
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			b.WriteString(src[i : i+end])
			i += end
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end, ok := skipBlockComment(src, i, dialect == Postgres)
			if !ok {
				return st, sqlError("has a comment that is not closed")
			}
			b.WriteString(src[i:end])
			i = end
		case c == '$' && dialect == Postgres:
			if tagEnd, ok := dollarTag(src, i); ok {
				tag := src[i:tagEnd]
				end := strings.Index(src[tagEnd:], tag)
				if end < 0 {
					return st, sqlError("has a dollar-quoted string that is not closed")
				}
				b.WriteString(src[i : tagEnd+end+len(tag)])
				i = tagEnd + end + len(tag)
				continue
			}
			if i+1 < len(src) && isDigit(src[i+1]) && !identChar(before(src, i)) {
				return st, sqlError("must use :name placeholders, not $1")
			}
			b.WriteByte(c)
			i++
		case c == '?' && dialect != Postgres:
			return st, sqlError("must use :name placeholders, not ?")
		case (c == '@' || c == '$') && dialect == SQLite && i+1 < len(src) && nameStart(src[i+1]):
			return st, sqlError("must use :name placeholders, not @name or $name")
		case c == ':':
			if i+1 < len(src) && src[i+1] == ':' && dialect == Postgres {
				b.WriteString("::") // a cast
				i += 2
				continue
			}
			if i+1 < len(src) && nameStart(src[i+1]) && before(src, i) != ':' {
				j := i + 1
				for j < len(src) && identChar(src[j]) {
					j++
				}
				name := src[i+1 : j]
				if !validName(name) {
					return st, sqlError("has a placeholder whose name is not lower-case letters, digits and underscores (at most 64)")
				}
				switch dialect {
				case Postgres:
					n, ok := pgIndex[name]
					if !ok {
						st.Names = append(st.Names, name)
						n = len(st.Names)
						pgIndex[name] = n
					}
					b.WriteByte('$')
					b.WriteString(strconv.Itoa(n))
				default:
					st.Names = append(st.Names, name)
					b.WriteByte('?')
				}
				i = j
				continue
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	st.Text = b.String()
	return st, nil
}

func sqlError(why string) error {
	return querygate.FieldErrorf("query", "query: %s", why)
}

// before returns the byte before i, or 0.
func before(s string, i int) byte {
	if i <= 0 {
		return 0
	}
	return s[i-1]
}

func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func nameStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func identChar(c byte) bool { return nameStart(c) || isDigit(c) || c >= 0x80 }

// skipQuoted returns the index after the literal that opens at i with q,
// where a doubled q stands for itself and, with backslash, a backslash
// escapes the next byte.
func skipQuoted(s string, i int, q byte, backslash bool) (int, bool) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if backslash {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

// skipBlockComment returns the index after the /* */ comment at i;
// PostgreSQL nests them.
func skipBlockComment(s string, i int, nested bool) (int, bool) {
	depth := 0
	for j := i; j+1 < len(s); {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			if depth == 0 || nested {
				depth++
			}
			j += 2
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j += 2
			if depth == 0 {
				return j, true
			}
		default:
			j++
		}
	}
	return 0, false
}

// dollarTag reports whether a PostgreSQL dollar quote ($$ or $tag$)
// opens at i, and returns the index after it. A $ inside an identifier
// (a$b$) opens none.
func dollarTag(s string, i int) (int, bool) {
	if identChar(before(s, i)) {
		return 0, false
	}
	j := i + 1
	if j < len(s) && nameStart(s[j]) {
		for j < len(s) && (nameStart(s[j]) || isDigit(s[j])) {
			j++
		}
	}
	if j < len(s) && s[j] == '$' {
		return j + 1, true
	}
	return 0, false
}
