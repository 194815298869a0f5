package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
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

// BenchmarkSmallQuery runs SELECT 1 through the connector, whose every
// released connection is reset (DISCARD ALL, P13), beside a pgx pool
// without reset doing the same work (DescribeExec, no statement cache),
// at 1 and 32 concurrent callers: the ratio of the two is what a clean
// session costs per small query.
func BenchmarkSmallQuery(b *testing.B) {
	s := MustServer(b)
	for _, callers := range []int{1, 32} {
		c, _ := MustConnector(b, s, options{maxConns: callers})
		cfg, err := pgxpool.ParseConfig(s.url.String())
		if err != nil {
			b.Fatal(err)
		}
		cfg.MaxConns = int32(callers)
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
		cfg.ConnConfig.StatementCacheCapacity, cfg.ConnConfig.DescriptionCacheCapacity = 0, 0
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		b.Run(fmt.Sprintf("connector/callers=%d", callers), func(b *testing.B) {
			b.SetParallelism(callers)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Query(context.Background(), connect.Request{Query: "SELECT 1"}, &countSink{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(fmt.Sprintf("pgx/callers=%d", callers), func(b *testing.B) {
			b.SetParallelism(callers)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var v int
					if err := pool.QueryRow(context.Background(), "SELECT 1").Scan(&v); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
