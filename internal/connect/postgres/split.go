package postgres

import "strings"

// SplitStatements splits the text of a simple query into its statements,
// at the semicolons outside quotes ('...', E'...', "...", $tag$...$tag$)
// and comments (-- and nested /* */), dropping those that are only white
// space. It does not need to be exact: each piece is sent to the server as
// one Parse, which the server refuses when it holds more than one
// statement, so a wrong split can only make the query fail.
func SplitStatements(text string) []string {
	var out []string
	start := 0
	add := func(end int) {
		piece := text[start:end]
		if !blank(piece) {
			out = append(out, piece)
		}
	}
	for i := 0; i < len(text); {
		ch := text[i]
		switch {
		case ch == ';':
			add(i)
			i++
			start = i
		case ch == '\'':
			escapes := i > 0 && (text[i-1] == 'E' || text[i-1] == 'e') && (i < 2 || !identChar(text[i-2]))
			i = skipQuoted(text, i+1, '\'', escapes)
		case ch == '"':
			i = skipQuoted(text, i+1, '"', false)
		case ch == '-' && i+1 < len(text) && text[i+1] == '-':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case ch == '/' && i+1 < len(text) && text[i+1] == '*':
			depth := 1
			i += 2
			for i < len(text) && depth > 0 {
				switch {
				case text[i] == '/' && i+1 < len(text) && text[i+1] == '*':
					depth++
					i += 2
				case text[i] == '*' && i+1 < len(text) && text[i+1] == '/':
					depth--
					i += 2
				default:
					i++
				}
			}
		case ch == '$' && (i == 0 || !identChar(text[i-1])):
			tag, ok := dollarTag(text[i:])
			if !ok {
				i++
				continue
			}
			j := indexFrom(text, tag, i+len(tag))
			if j < 0 {
				i = len(text)
			} else {
				i = j + len(tag)
			}
		default:
			i++
		}
	}
	add(len(text))
	return out
}

// skipQuoted returns the index after the quote that closes a quoted text
// starting at i (a doubled quote stays inside; with escapes, so does a
// backslash and the byte after it).
func skipQuoted(text string, i int, quote byte, escapes bool) int {
	for i < len(text) {
		switch text[i] {
		case '\\':
			if escapes {
				i += 2
				continue
			}
		case quote:
			if i+1 < len(text) && text[i+1] == quote {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(text)
}

// dollarTag reads the $tag$ at the start of s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1], true
		}
		if !(identChar(c) && !(j == 1 && c >= '0' && c <= '9')) {
			return "", false
		}
	}
	return "", false
}

func identChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func indexFrom(s, sub string, from int) int {
	if i := strings.Index(s[from:], sub); i >= 0 {
		return from + i
	}
	return -1
}

func blank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
		default:
			return false
		}
	}
	return true
}
