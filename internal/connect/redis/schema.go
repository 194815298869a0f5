package redis

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
)

var _ connect.SchemaReader = (*Connector)(nil)

// Bounds of a schema scan.
const (
	// scanCount is the COUNT hint of each SCAN.
	scanCount = 100
	// maxPattern caps a key pattern's length in bytes.
	maxPattern = 200
	// typeBatch is how many TYPE commands go in one pipeline.
	typeBatch = 100
)

// Schema summarises the keys of the datasource's database as key patterns
// (user:* for user:1, user:2, ...), each with the type of its first key,
// only when the datasource turns schema_scan on; otherwise it answers an
// empty schema without a command. The scan is bounded: at most
// lim.MaxKeys keys are read (SCAN with COUNT, as many rounds as that
// needs), then one TYPE per pattern. Every command goes through the
// read-only command policy and the pool, like a query's. A pattern's rows
// estimate is its number of keys, given only when the scan saw every key.
func (c *Connector) Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error) {
	if !c.settings.schemaScan {
		return schema.Empty(), nil
	}
	lim = lim.WithDefaults()
	var (
		order    []string              // patterns in the order first seen
		sample   = map[string]string{} // pattern -> its first key
		count    = map[string]int64{}
		seen     int
		cursor   = "0"
		complete bool
		dropped  bool // keys the scan answered beyond MaxKeys
	)
	// The rounds are bounded too: SCAN may answer few or no keys a round.
	for round := 0; round < lim.MaxKeys/scanCount+10; round++ {
		v, err := c.read(ctx, "SCAN", cursor, "COUNT", strconv.Itoa(scanCount))
		if err != nil {
			return nil, err
		}
		next, keys, ok := scanReply(v)
		if !ok {
			return nil, querygate.Errorf(querygate.EQUERY, "The server answered SCAN with an unexpected reply.")
		}
		for _, k := range keys {
			if seen >= lim.MaxKeys {
				dropped = true
				break
			}
			seen++
			p := KeyPattern(k)
			if _, ok := sample[p]; !ok {
				order = append(order, p)
				sample[p] = k
			}
			count[p]++
		}
		cursor = next
		if cursor == "0" {
			complete = !dropped
			break
		}
		if seen >= lim.MaxKeys {
			break
		}
	}
	b := connect.NewSchemaBuilder(lim)
	ns := "db" + strconv.Itoa(c.settings.db)
	// One TYPE per pattern, typeBatch to a round trip.
	for start := 0; start < len(order) && !b.Full(); start += typeBatch {
		batch := order[start:min(start+typeBatch, len(order))]
		cmds := make([][]string, len(batch))
		for i, p := range batch {
			cmds[i] = []string{"TYPE", sample[p]}
		}
		types, err := c.readBatch(ctx, cmds)
		if err != nil {
			return nil, err
		}
		for i, p := range batch {
			typ, _ := types[i].(string)
			var rows *int64
			if complete {
				n := count[p]
				rows = &n
			}
			if !b.Table(ns, p, schema.KindKeyPattern, rows) || !b.Column(schema.Column{Name: "value", Type: typ}) {
				break
			}
		}
	}
	sc := b.Schema()
	if !complete {
		sc.Truncated = true
	}
	return sc, nil
}

// read runs a read command through the policy (read-only) and the pool.
func (c *Connector) read(ctx context.Context, args ...string) (any, error) {
	p := policy{readOnly: true, allowAdmin: c.settings.allowAdmin}
	if err := p.check(args); err != nil {
		return nil, err
	}
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	return c.do(ctx, a)
}

// readBatch runs read commands through the policy (read-only) as one
// pipeline on one slot of the pool: one round trip. A command the server
// refuses (an ACL's NOPERM) answers nil; a failed connection fails the
// whole batch.
func (c *Connector) readBatch(ctx context.Context, cmds [][]string) ([]any, error) {
	p := policy{readOnly: true, allowAdmin: c.settings.allowAdmin}
	for _, args := range cmds {
		if err := p.check(args); err != nil {
			return nil, err
		}
	}
	out := make([]any, len(cmds))
	err := c.onSlot(ctx, func(s *slot) (bool, error) {
		// PipelinePoolSize < 0 (clientOptions): the pipeline runs on the
		// slot's one connection.
		pipe := s.client.Pipeline()
		replies := make([]*goredis.Cmd, len(cmds))
		for i, args := range cmds {
			a := make([]any, len(args))
			for j, v := range args {
				a[j] = v
			}
			replies[i] = pipe.Do(ctx, a...)
		}
		pipe.Exec(ctx) // each reply's error is read below
		for i, r := range replies {
			v, err := r.Result()
			if err == nil || errors.Is(err, goredis.Nil) {
				out[i] = v
				continue
			}
			if _, ok := errors.AsType[goredis.Error](err); ok {
				continue
			}
			if merr := s.meterError(); merr != nil {
				err = merr
			}
			return false, mapError(ctx, err, c.settings.password)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanReply reads SCAN's reply: the next cursor and the keys.
func scanReply(v any) (string, []string, bool) {
	r, ok := v.([]any)
	if !ok || len(r) != 2 {
		return "", nil, false
	}
	next, ok := r[0].(string)
	if !ok {
		return "", nil, false
	}
	list, ok := r[1].([]any)
	if !ok {
		return "", nil, false
	}
	keys := make([]string, 0, len(list))
	for _, k := range list {
		s, ok := k.(string)
		if !ok {
			return "", nil, false
		}
		keys = append(keys, s)
	}
	return next, keys, true
}

var (
	uuidPattern  = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	hexPattern   = regexp.MustCompile(`[0-9a-fA-F]{16,}`)
	digitPattern = regexp.MustCompile(`[0-9]+`)
	starsPattern = regexp.MustCompile(`\*+`)
)

// KeyPattern is the pattern a key is summarised under: UUIDs, runs of
// digits and hexadecimal ids of 16 characters or more become *, bytes
// that are not UTF-8 become *, and the result is at most maxPattern bytes
// (cut with a final *).
func KeyPattern(key string) string {
	if !utf8.ValidString(key) {
		key = strings.ToValidUTF8(key, "*")
	}
	p := uuidPattern.ReplaceAllString(key, "*")
	p = hexPattern.ReplaceAllStringFunc(p, func(s string) string {
		if strings.ContainsAny(s, "0123456789") {
			return "*" // a hash or an id; a long word of a-f letters stays
		}
		return s
	})
	p = digitPattern.ReplaceAllString(p, "*")
	p = starsPattern.ReplaceAllString(p, "*")
	if len(p) > maxPattern {
		cut := maxPattern
		for cut > 0 && !utf8.RuneStart(p[cut]) {
			cut--
		}
		p = strings.TrimRight(p[:cut], "*") + "*"
	}
	return p
}
