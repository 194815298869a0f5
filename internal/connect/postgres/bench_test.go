package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/querygate/querygate/internal/connect"
)

// benchQuery returns rows of five mixed columns (int8, text, float8,
// timestamptz, bool), streamed by the server.
const benchQuery = `SELECT g::int8, 'name ' || g, g * 1.5::float8, timestamptz '2024-01-01' + g * interval '1 second', g % 2 = 0
	FROM (SELECT generate_series(1, $1::int8) g) s`

const benchRows = 200_000

type countSink struct{ n int }

func (s *countSink) Columns([]connect.Column) error { return nil }
func (s *countSink) Row([]any) error {
	s.n++
	return nil
}

// BenchmarkStream streams rows through the connector into a sink that only
// counts them; compare with BenchmarkStreamPgxValues on the same query.
func BenchmarkStream(b *testing.B) {
	s := MustServer(b)
	c, _ := MustConnector(b, s, options{maxConns: 1})
	b.ReportAllocs()
	for b.Loop() {
		sk := &countSink{}
		if _, err := c.Query(b.Context(), connect.Request{Query: benchQuery, Params: []any{"200000"}}, sk); err != nil || sk.n != benchRows {
			b.Fatalf("Query: %v, %d rows", err, sk.n)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkStreamPgxValues is the baseline: pgx's own Values() on a pool.
func BenchmarkStreamPgxValues(b *testing.B) {
	s := MustServer(b)
	pool, err := pgxpool.New(context.Background(), s.url.String())
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	b.ReportAllocs()
	for b.Loop() {
		rows, err := pool.Query(b.Context(), benchQuery, benchRows)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			if _, err := rows.Values(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if rows.Err() != nil || n != benchRows {
			b.Fatalf("%v, %d rows", rows.Err(), n)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
