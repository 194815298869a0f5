package connect

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// How a secret is found in a response
//
// An upstream may echo a credential back in any form: as it was sent, in
// another charset, escaped for JSON, JavaScript, HTML or a URL, or
// base64-encoded inside a larger blob. The Detector looks for each secret
// in two complementary ways:
//
//   - fixed forms, searched as bytes: the secret itself, UTF-16 LE and BE,
//     Latin-1 (when it differs), lower- and upper-case hex, and base64
//     (standard and URL alphabets) at each of the three byte alignments it
//     can have inside a longer base64 string (only the characters that the
//     secret alone decides, so padding and neighbours do not matter);
//   - decoded views of the body: every backslash escape (JSON's \uXXXX
//     with surrogate pairs, \/, \n and the others, and JavaScript's \xHH),
//     every HTML character reference (&#47;, &#x2F;, &amp;, ...), and
//     every percent escape (%2F or %2f, and '+' for a space when a secret
//     holds a space) is decoded, alone and one inside the other (JSON
//     inside a URL, a URL inside JSON), and the fixed forms are searched in
//     the decoded text. Escapes may be mixed freely with literal
//     characters, which no list of fixed forms could cover.
//
// A match in a decoded view is mapped back to the bytes of the body it was
// decoded from (whole escapes, never half of one) and those bytes are
// replaced. The replacement is [REDACTED] in the form of the match
// (UTF-16 for a UTF-16 match, ASCII otherwise), which is itself valid
// inside a JSON string, a URL or HTML, so in-place redaction keeps the
// document usable. The redacted body is checked again; a body that is
// still not clean after a few rounds is refused as a whole.

// minNeedle is the shortest secret that is redacted from responses: a
// shorter one would match ordinary text too often to be cut safely.
const minNeedle = 6

// maxViewDepth bounds how many decodings are applied one inside another.
const maxViewDepth = 2

// redactRounds bounds the redact-and-check rounds before a body is refused.
const redactRounds = 3

// redacted is what replaces a secret echoed in a response.
var redacted = []byte("[REDACTED]")

// needle is one form in which a secret may come back, and what replaces it.
type needle struct {
	text, repl []byte
}

// Detector finds a datasource's secrets in what an upstream sends back (a
// response body, a header, an error message). The zero value has
// no secret and finds nothing. It is read-only once built, so safe for
// concurrent use.
type Detector struct {
	needles []needle
	// pairs is a bitset of the two-byte pairs at offsets 0 and 1 of the
	// needles; byPair lists the needles holding each pair, with its
	// offset. Every match has one of them at an even position of the text,
	// so scan looks at every other position only.
	pairs  [1 << 16 / 64]uint64
	byPair map[uint16][]pairRef
	// used holds the bytes that occur in some needle. An escape that
	// decodes to any other byte cannot be inside a match, so decodeView
	// leaves it undecoded; a body whose escapes are all such (the \n and
	// \" of ordinary JSON, the %20 of a URL) needs no decoded view at all.
	used   [256]bool
	minLen int
	maxLen int
	// space is true when a secret holds a space, which form encoding
	// writes as '+'.
	space bool
}

// Add records a secret value in every fixed form (see the top of this
// file). Values shorter than minNeedle are not recorded.
func (d *Detector) Add(v string) {
	if len(v) < minNeedle {
		return
	}
	if bytes.IndexByte([]byte(v), ' ') >= 0 {
		d.space = true
	}
	for _, n := range secretForms(v) {
		d.addForm(n)
	}
}

// pairRef is a needle holding a pair at offset off.
type pairRef struct {
	needle, off int
}

func (d *Detector) addForm(n needle) {
	if len(n.text) < 3 {
		return
	}
	for _, m := range d.needles {
		if bytes.Equal(m.text, n.text) {
			return
		}
	}
	if d.byPair == nil {
		d.byPair = map[uint16][]pairRef{}
	}
	for off := range 2 {
		p := uint16(n.text[off])<<8 | uint16(n.text[off+1])
		d.pairs[p>>6] |= 1 << (p & 63)
		d.byPair[p] = append(d.byPair[p], pairRef{needle: len(d.needles), off: off})
	}
	d.needles = append(d.needles, n)
	for _, c := range n.text {
		d.used[c] = true
	}
	if d.minLen == 0 || len(n.text) < d.minLen {
		d.minLen = len(n.text)
	}
	d.maxLen = max(d.maxLen, len(n.text))
}

// secretForms returns the fixed forms of v.
func secretForms(v string) []needle {
	r := redacted
	out := []needle{{[]byte(v), r}}
	if utf8.ValidString(v) {
		out = append(out,
			needle{utf16Bytes(v, false), utf16Bytes(string(redacted), false)},
			needle{utf16Bytes(v, true), utf16Bytes(string(redacted), true)})
		if l, ok := latin1(v); ok && l != v {
			out = append(out, needle{[]byte(l), r})
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for k := range 3 {
			// v at byte offset k (mod 3) of a longer blob: keep only the
			// characters whose six bits all come from v.
			buf := make([]byte, k+len(v))
			copy(buf[k:], v)
			s := enc.EncodeToString(buf)
			start, end := (8*k+5)/6, 8*(k+len(v))/6
			out = append(out, needle{[]byte(s[start:end]), r})
		}
	}
	h := hex.EncodeToString([]byte(v))
	out = append(out, needle{[]byte(h), r}, needle{bytes.ToUpper([]byte(h)), r})
	return out
}

// utf16Bytes encodes s as UTF-16, big endian when be.
func utf16Bytes(s string, be bool) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		if be {
			b = append(b, byte(c>>8), byte(c))
		} else {
			b = append(b, byte(c), byte(c>>8))
		}
	}
	return b
}

// latin1 encodes s as ISO-8859-1, when every character fits.
func latin1(s string) (string, bool) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return "", false
		}
		b = append(b, byte(r))
	}
	return string(b), true
}

// hit is a secret found in the body: bytes [from, to) of the body, to be
// replaced by repl.
type hit struct {
	from, to int
	repl     []byte
}

// contains reports whether b holds a secret in any form.
func (d *Detector) Contains(b []byte) bool {
	return len(d.find(b, true)) > 0
}

// redact returns b with every secret replaced, and false when b could not
// be made clean (the caller then refuses it). b itself is not modified.
func (d *Detector) Redact(b []byte) ([]byte, bool) {
	for range redactRounds {
		hits := d.find(b, false)
		if len(hits) == 0 {
			return b, true
		}
		b = replace(b, hits)
	}
	return nil, !d.Contains(b)
}

// replace returns b with the hits replaced; overlapping hits are merged.
func replace(b []byte, hits []hit) []byte {
	slices.SortFunc(hits, func(x, y hit) int { return x.from - y.from })
	out := make([]byte, 0, len(b)+len(hits)*len(redacted))
	last := 0
	for i := 0; i < len(hits); {
		h := hits[i]
		end := h.to
		for i++; i < len(hits) && hits[i].from < end; i++ {
			end = max(end, hits[i].to)
		}
		out = append(out, b[last:h.from]...)
		out = append(out, h.repl...)
		last = end
	}
	return append(out, b[last:]...)
}

// find returns where the secrets are in b (only the first when first).
func (d *Detector) find(b []byte, first bool) []hit {
	if len(d.needles) == 0 {
		return nil
	}
	var hits []hit
	root := &view{data: b}
	d.search(root, first, &hits)
	if first && len(hits) > 0 {
		return hits
	}
	d.derive(root, 0, first, &hits)
	return hits
}

// derive searches the decoded views of v, and theirs, to maxViewDepth.
// Each view is dropped once searched, so at most maxViewDepth copies of
// the body are held at once.
func (d *Detector) derive(v *view, depth int, first bool, hits *[]hit) {
	if depth == maxViewDepth {
		return
	}
	for _, u := range d.unescapers() {
		if v.kind == u.kind {
			continue // decoding the same escapes twice is double encoding
		}
		w := d.decodeView(v, u)
		if w == nil {
			continue
		}
		d.search(w, first, hits)
		if first && len(*hits) > 0 {
			return
		}
		d.derive(w, depth+1, first, hits)
		if first && len(*hits) > 0 {
			return
		}
	}
}

// search adds the needles found in v. A derived view is searched only
// near its escapes: a match that touches none is a match of its parent,
// already found there.
func (d *Detector) search(v *view, first bool, hits *[]hit) {
	if v.parent == nil {
		d.scan(v, 0, len(v.data), first, hits)
		return
	}
	reach := d.maxLen - 1
	for i := 0; i < len(v.spans); {
		lo := max(0, v.spans[i].at-reach)
		hi := v.spans[i].at + v.spans[i].n
		for i++; i < len(v.spans) && v.spans[i].at-reach <= hi; i++ {
			hi = v.spans[i].at + v.spans[i].n
		}
		d.scan(v, lo, hi, first, hits)
		if first && len(*hits) > 0 {
			return
		}
	}
}

// scan adds the needles of v.data that start at [lo, hi).
func (d *Detector) scan(v *view, lo, hi int, first bool, hits *[]hit) {
	data := v.data
	for i := lo &^ 1; i <= hi && i+1 < len(data); i += 2 {
		p := uint16(data[i])<<8 | uint16(data[i+1])
		if d.pairs[p>>6]&(1<<(p&63)) == 0 {
			continue
		}
		for _, r := range d.byPair[p] {
			start := i - r.off
			n := &d.needles[r.needle]
			if start < lo || start >= hi || !bytes.HasPrefix(data[start:], n.text) {
				continue
			}
			from, to := v.rootRange(start, start+len(n.text))
			*hits = append(*hits, hit{from: from, to: to, repl: n.repl})
			if first {
				return
			}
		}
	}
}

// span is one decoded escape of a view: data[at:at+n] was decoded from
// the parent's bytes [from, to).
type span struct {
	at, n, from, to int
}

// view is the body, or a decoding of a parent view.
type view struct {
	data   []byte
	spans  []span // in order of at
	parent *view
	kind   byte // the unescaper's kind; 0 for the body
}

// rootRange maps data[i:j] to the range of the body it was decoded from,
// widened to whole escapes.
func (v *view) rootRange(i, j int) (int, int) {
	for ; v.parent != nil; v = v.parent {
		i, _ = v.source(i)
		_, j = v.source(j - 1)
	}
	return i, j
}

// source returns the parent's bytes that data[i] was decoded from.
func (v *view) source(i int) (from, to int) {
	k := sort.Search(len(v.spans), func(x int) bool { return v.spans[x].at > i }) - 1
	if k < 0 {
		return i, i + 1
	}
	s := v.spans[k]
	if i < s.at+s.n {
		return s.from, s.to
	}
	p := s.to + i - (s.at + s.n)
	return p, p + 1
}

// unescaper decodes one kind of escape, each starting with trigger.
type unescaper struct {
	kind    byte
	trigger byte
	// decode decodes the escape at b[0] (the trigger), appending it to
	// out; n is its length in b, 0 when b does not start an escape.
	decode func(out, b []byte) (_ []byte, n int)
}

var (
	backslashEscapes = unescaper{kind: 'j', trigger: '\\', decode: unescapeBackslash}
	htmlEscapes      = unescaper{kind: 'h', trigger: '&', decode: unescapeHTML}
	percentEscapes   = unescaper{kind: 'p', trigger: '%', decode: unescapePercent}
	formEscapes      = unescaper{kind: 'f', trigger: '+', decode: func(out, b []byte) ([]byte, int) { return append(out, ' '), 1 }}
)

// unescapers returns the decodings a body is searched under. '+' for a
// space only matters when a secret holds a space.
func (d *Detector) unescapers() []unescaper {
	if d.space {
		return []unescaper{backslashEscapes, htmlEscapes, percentEscapes, formEscapes}
	}
	return []unescaper{backslashEscapes, htmlEscapes, percentEscapes}
}

// decodeView returns v with the escapes of u decoded, or nil when v holds
// none. Escapes that decode to a byte no needle holds are left as they are
// (see Detector.used).
func (d *Detector) decodeView(v *view, u unescaper) *view {
	p := v.data
	i := bytes.IndexByte(p, u.trigger)
	if i < 0 {
		return nil
	}
	var data []byte
	var spans []span
	var scratch [utf8.UTFMax]byte
	last := 0
	for {
		out, n := u.decode(scratch[:0], p[i:])
		for _, c := range out {
			if !d.used[c] {
				n = 0
			}
		}
		if n == 0 {
			n = 1 // not an escape: copied with the text around it
		} else {
			if data == nil {
				data = make([]byte, 0, len(p))
				// One allocation: at most one span per trigger.
				spans = make([]span, 0, bytes.Count(p[i:], []byte{u.trigger}))
			}
			data = append(data, p[last:i]...)
			spans = append(spans, span{at: len(data), n: len(out), from: i, to: i + n})
			data = append(data, out...)
			last = i + n
		}
		j := bytes.IndexByte(p[i+n:], u.trigger)
		if j < 0 {
			break
		}
		i += n + j
	}
	if data == nil {
		return nil
	}
	return &view{data: append(data, p[last:]...), spans: spans, parent: v, kind: u.kind}
}

// unescapeBackslash decodes a JSON or JavaScript backslash escape.
func unescapeBackslash(out, b []byte) ([]byte, int) {
	if len(b) < 2 {
		return out, 0
	}
	switch b[1] {
	case '"', '\\', '/', '\'':
		return append(out, b[1]), 2
	case 'b':
		return append(out, '\b'), 2
	case 'f':
		return append(out, '\f'), 2
	case 'n':
		return append(out, '\n'), 2
	case 'r':
		return append(out, '\r'), 2
	case 't':
		return append(out, '\t'), 2
	case 'x':
		if len(b) >= 4 && isHex(b[2]) && isHex(b[3]) {
			return utf8.AppendRune(out, rune(unhex(b[2])<<4|unhex(b[3]))), 4
		}
	case 'u':
		r, ok := hex4(b[2:])
		if !ok {
			return out, 0
		}
		if utf16.IsSurrogate(r) && len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if r2, ok := hex4(b[8:]); ok {
				if c := utf16.DecodeRune(r, r2); c != utf8.RuneError {
					return utf8.AppendRune(out, c), 12
				}
			}
		}
		return utf8.AppendRune(out, r), 6
	}
	return out, 0
}

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		if !isHex(c) {
			return 0, false
		}
		r = r<<4 | rune(unhex(c))
	}
	return r, true
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// unescapePercent decodes %XX (either case).
func unescapePercent(out, b []byte) ([]byte, int) {
	if len(b) >= 3 && isHex(b[1]) && isHex(b[2]) {
		return append(out, unhex(b[1])<<4|unhex(b[2])), 3
	}
	return out, 0
}

// htmlNamed are the named character references of characters that
// secrets commonly hold and HTML or XML escape.
var htmlNamed = map[string]byte{"amp": '&', "lt": '<', "gt": '>', "quot": '"', "apos": '\'', "sol": '/', "equals": '=', "plus": '+', "percnt": '%'}

// unescapeHTML decodes &#NN;, &#xHH; and the named references above (the
// semicolon is required).
func unescapeHTML(out, b []byte) ([]byte, int) {
	end := bytes.IndexByte(b[:min(len(b), 12)], ';')
	if end < 2 {
		return out, 0
	}
	ref := b[1:end]
	if ref[0] != '#' {
		if c, ok := htmlNamed[string(ref)]; ok {
			return append(out, c), end + 1
		}
		return out, 0
	}
	digits, base := ref[1:], rune(10)
	if len(digits) > 0 && (digits[0] == 'x' || digits[0] == 'X') {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 7 {
		return out, 0
	}
	var r rune
	for _, c := range digits {
		if base == 10 && (c < '0' || c > '9') || !isHex(c) {
			return out, 0
		}
		r = r*base + rune(unhex(c))
	}
	if r > utf8.MaxRune {
		return out, 0
	}
	return utf8.AppendRune(out, r), end + 1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
