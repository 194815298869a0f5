package query

import (
	"context"
	"errors"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/schema"
)

// shielded is a connector whose errors never carry one of its
// datasource's secrets (P3). Connectors pass on the server's own message
// for a statement it rejected; a hostile or compromised upstream (one
// that asked for the password in clear, say) could put the password in
// that message. Every error message is checked against the secrets in
// every form connect.Detector knows (raw, UTF-16, Latin-1, hex, base64,
// JSON, HTML and percent escapes), and one that holds a secret is
// replaced, keeping its code. It is the one place for every kind.
type shielded struct {
	connect.Connector
	secrets *connect.Detector
}

// shield wraps conn with the secrets it was opened with.
func shield(conn connect.Connector, secrets datasource.Secrets) connect.Connector {
	d := &connect.Detector{}
	for _, v := range secrets.Values() {
		d.Add(v.Reveal())
	}
	return &shielded{Connector: conn, secrets: d}
}

func (c *shielded) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	res, err := c.Connector.Query(ctx, req, sink)
	return res, c.check(err)
}

// Schema reads the wrapped connector's schema (an empty one when it has
// no reader), its errors withheld like those of Query.
func (c *shielded) Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error) {
	sc, err := connect.ReadSchema(ctx, c.Connector, lim)
	if err != nil {
		return nil, c.check(err)
	}
	return sc, nil
}

func (c *shielded) Ping(ctx context.Context) error {
	return c.check(c.Connector.Ping(ctx))
}

// check returns err, or an error of the same code without its message
// when the message holds a secret. A hint or detail (PostgreSQL's) that
// holds a secret has it redacted, or is dropped when it cannot be made
// clean.
func (c *shielded) check(err error) error {
	if err == nil {
		return nil
	}
	if c.secrets.Contains([]byte(querygate.ErrorMessage(err))) {
		return querygate.Errorf(querygate.ErrorCode(err), "The datasource's message was withheld: it held one of this datasource's secrets.")
	}
	qe, ok := errors.AsType[*querygate.Error](err)
	if !ok || (qe.Hint == "" && qe.Detail == "") {
		return err
	}
	clean := *qe
	clean.Hint, clean.Detail = c.redact(qe.Hint), c.redact(qe.Detail)
	return &clean
}

// redact returns s with every secret replaced, or "" when it cannot be
// made clean.
func (c *shielded) redact(s string) string {
	if s == "" {
		return s
	}
	b, ok := c.secrets.Redact([]byte(s))
	if !ok {
		return ""
	}
	return string(b)
}
