package redis

import (
	"bytes"
	"strconv"
)

// Reply caps. go-redis reads a whole reply into memory before Do returns,
// and allocates a bulk string or an array as soon as it reads its declared
// length; these caps bound what one reply can make the gateway hold.
const (
	// MaxReplyBytes caps the bytes of one reply on the wire.
	MaxReplyBytes = 64 << 20
	// MaxReplyElements caps the elements of one reply, nested ones
	// included (a map entry counts twice: key and value).
	MaxReplyElements = 1 << 20
	// MaxReplyDepth caps how deeply aggregates (arrays, sets, maps,
	// pushes, and attributes, which go-redis reads before the value they
	// annotate) nest in one reply. go-redis reads a reply, and the
	// connector converts it, by recursion: a reply a million levels deep
	// would overflow the goroutine's stack, which ends the process. No
	// command of Redis nests replies more than a few levels; RedisJSON's
	// documents stop at 128.
	MaxReplyDepth = 256
)

// maxHead bounds the start of a line the meter keeps: enough for a type
// byte, a length and CR. Longer lines are simple strings or errors, whose
// text the meter does not need.
const maxHead = 32

// meter watches the bytes of replies as they are read from a connection
// (plaintext RESP2 or RESP3) and fails once a reply declares or sends more
// than its caps, or nests deeper than its depth, before go-redis sees the
// header that would make it allocate or recurse: a read that brings such
// a header fails as a whole. It is reset before each command.
type meter struct {
	maxBytes, maxElems int64
	maxDepth           int
	bytes              int64 // read, plus the rest of the bulk payload being read
	elems              int64 // declared
	skip               int64 // payload bytes (with their CR LF) still to pass over
	head               []byte
	headLen            int // length of the current line so far, beyond head
	// open holds the aggregates being read, outermost first: at most
	// maxDepth.
	open []frame
	err  error
}

// frame is an aggregate being read.
type frame struct {
	left int64 // elements still to come
	// attr marks an attribute's entries; once they are read, the frame
	// waits for the one value the attribute annotates.
	attr bool
}

func newMeter(maxBytes, maxElems int64, maxDepth int) *meter {
	return &meter{maxBytes: maxBytes, maxElems: maxElems, maxDepth: maxDepth, head: make([]byte, 0, maxHead)}
}

// reset starts a new command's budget. A line, payload or aggregate cut in
// half by a previous read is still followed: the stream goes on.
func (m *meter) reset() {
	m.bytes, m.elems, m.err = 0, 0, nil
}

// feed accounts for p, the next bytes read. It returns errReplyTooLarge
// once the caps are passed, and errReplyMalformed for a length line that
// is not one; after an error it keeps returning it until reset.
func (m *meter) feed(p []byte) error {
	for len(p) > 0 && m.err == nil {
		if m.skip > 0 {
			n := min(m.skip, int64(len(p)))
			m.skip -= n
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line = p[:i]
		}
		if keep := maxHead - len(m.head); keep > 0 {
			m.head = append(m.head, line[:min(keep, len(line))]...)
		}
		m.headLen += len(line)
		m.add(int64(len(line)))
		if i < 0 {
			return m.err
		}
		m.add(1) // the LF
		p = p[i+1:]
		m.line()
		m.head, m.headLen = m.head[:0], 0
	}
	return m.err
}

// add counts n bytes of the reply.
func (m *meter) add(n int64) {
	m.bytes += n
	if m.err == nil && m.bytes > m.maxBytes {
		m.err = errReplyTooLarge
	}
}

// line reads the type and length of a complete line (in m.head).
func (m *meter) line() {
	if m.err != nil || len(m.head) == 0 {
		return
	}
	switch m.head[0] {
	case '$', '=', '!': // bulk string, verbatim string, bulk error
		n, ok := m.length()
		if !ok {
			return
		}
		if n >= 0 {
			m.skip = n + 2
			m.add(m.skip)
		}
	case '*', '~', '>': // array, set, push
		n, ok := m.length()
		if !ok {
			return
		}
		if n > 0 {
			m.count(n)
			m.push(frame{left: n})
			return
		}
	case '%': // map: keys and values
		n, ok := m.length()
		if !ok {
			return
		}
		if n > 0 {
			m.count(2 * n)
			m.push(frame{left: 2 * n})
			return
		}
	case '|': // attribute: keys and values, then the value it annotates
		n, ok := m.length()
		if !ok {
			return
		}
		if n > 0 {
			m.count(2 * n)
			m.push(frame{left: 2 * n, attr: true})
		} else {
			m.push(frame{left: 1})
		}
		return
	}
	m.done()
}

// push opens an aggregate, within the depth.
func (m *meter) push(f frame) {
	if m.err != nil {
		return
	}
	if len(m.open) >= m.maxDepth {
		m.err = errReplyTooDeep
		return
	}
	m.open = append(m.open, f)
}

// done ends a value: it counts as an element of the innermost aggregate,
// which may end in turn.
func (m *meter) done() {
	for n := len(m.open); n > 0; n = len(m.open) {
		f := &m.open[n-1]
		if f.left--; f.left > 0 {
			return
		}
		if f.attr {
			*f = frame{left: 1}
			return
		}
		m.open = m.open[:n-1]
	}
}

// length parses the length of a length line: -1 (nil) or more.
func (m *meter) length() (int64, bool) {
	if m.headLen > maxHead {
		m.err = errReplyMalformed
		return 0, false
	}
	digits := bytes.TrimSuffix(m.head[1:], []byte{'\r'})
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < -1 || n > m.maxBytes {
		// Redis never sends these; refuse them rather than let go-redis
		// allocate for them.
		if err == nil && n > m.maxBytes {
			m.err = errReplyTooLarge
		} else {
			m.err = errReplyMalformed
		}
		return 0, false
	}
	return n, true
}

// count adds n declared elements.
func (m *meter) count(n int64) {
	m.elems += n
	if m.elems > m.maxElems {
		m.err = errReplyTooLarge
	}
}
