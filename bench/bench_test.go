// Package bench measures the gateway against the same PostgreSQL reached
// directly with pgx, in one run, so that every figure is a ratio to its
// baseline. Run it with:
//
//	go test -run=^$ -bench=. -benchtime=1x ./bench/
//
// QG_BENCH_BIN runs a querygate binary built beforehand instead of
// building this tree (to compare two versions in alternating runs).
// QG_BENCH_ARGS adds flags to the gateway's command line (for example
// "--store-sync normal"). QG_BENCH_CPUPROFILE=<dir> makes each gateway
// write its CPU profile there, for `go tool pprof`.
//
// It builds and starts the real querygate binary as a separate process, so
// the gateway's peak memory (VmHWM) is its own, not the benchmark's.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/querygate/querygate/internal/testenv"
)

// profiles numbers the gateways' CPU profiles. With QG_BENCH_CPUPROFILE
// set to a directory, each gateway writes its CPU profile there (through
// QUERYGATE_CPUPROFILE) when the benchmark stops it.
var profiles atomic.Int64

// gw is a querygate process under measurement.
type gw struct {
	cmd    *exec.Cmd
	url    string
	client *http.Client
	dsID   string
}

func startGateway(b *testing.B, extra ...string) *gw {
	b.Helper()
	u := testenv.PostgresURL(b)
	dir := b.TempDir()
	bin := os.Getenv("QG_BENCH_BIN") // a binary built beforehand (another version, to compare)
	if bin == "" {
		bin = filepath.Join(dir, "querygate")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/querygate").CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
	}
	data := filepath.Join(dir, "data")
	add := exec.Command(bin, "user", "add", "--data-dir", data, "--username", "bench", "--role", "admin")
	add.Stdin = strings.NewReader("bench password 1\n")
	if out, err := add.CombinedOutput(); err != nil {
		b.Fatalf("user add: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"serve", "--data-dir", data, "--listen", addr, "--row-limit-max", "20000000", "--pool-max-conns", "32"}, extra...)
	// QG_BENCH_ARGS adds flags, to compare settings (--store-sync normal).
	args = append(args, strings.Fields(os.Getenv("QG_BENCH_ARGS"))...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.Discard
	prof := os.Getenv("QG_BENCH_CPUPROFILE")
	if prof != "" {
		// One profile per gateway: the benchmark's name and a counter.
		n := profiles.Add(1)
		name := strings.NewReplacer("/", "_", "=", "").Replace(b.Name())
		cmd.Env = append(os.Environ(), fmt.Sprintf("QUERYGATE_CPUPROFILE=%s/%s-%d.pprof", prof, name, n))
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if prof != "" {
			// A clean stop, so that the gateway writes its profile.
			cmd.Process.Signal(os.Interrupt)
			t := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
			cmd.Wait()
			t.Stop()
			return
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	jar, _ := cookiejar.New(nil)
	g := &gw{cmd: cmd, url: "http://" + addr, client: &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for i := 0; ; i++ {
		if resp, err := http.Get(g.url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			b.Fatal("gateway did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.post(b, "/api/login", `{"username":"bench","password":"bench password 1"}`)
	port := 5432
	fmt.Sscan(u.Port(), &port)
	body, _ := json.Marshal(map[string]any{"name": "pg", "kind": "postgres", "settings": map[string]any{
		"host": u.Hostname(), "port": port, "database": strings.TrimPrefix(u.Path, "/"), "user": u.User.Username(), "sslmode": "disable"}})
	var d struct{ ID string }
	json.Unmarshal(g.post(b, "/api/datasources", string(body)), &d)
	g.dsID = d.ID
	return g
}

func (g *gw) post(b *testing.B, path, body string) []byte {
	b.Helper()
	resp, err := g.client.Post(g.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		b.Fatalf("%s: %d %s", path, resp.StatusCode, out)
	}
	return out
}

// peakRSS returns the gateway's peak resident memory in MiB (VmHWM).
func (g *gw) peakRSS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "VmHWM:"), "kB")), &kb)
			return kb / 1024
		}
	}
	return -1
}

// cpu returns the CPU time the gateway process has used (user and
// system), from /proc/<pid>/stat, in clock ticks of 10 ms.
func (g *gw) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// reportCPU reports the gateway's CPU time per request since from: unlike
// latency and throughput, it hardly depends on what else the machine runs.
func (g *gw) reportCPU(b *testing.B, from time.Duration, n int) {
	b.ReportMetric(float64((g.cpu()-from).Microseconds())/float64(n), "gateway-cpu-us/req")
}

// query runs one query through the gateway and reads the whole answer,
// returning the time to the first row line and the number of row lines.
func (g *gw) query(ctx context.Context, sql string, limit int) (time.Duration, int, error) {
	body := fmt.Sprintf(`{"query":%q,"limit":%d}`, sql, limit)
	req, _ := http.NewRequestWithContext(ctx, "POST", g.url+"/api/datasources/"+g.dsID+"/query", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		out, _ := io.ReadAll(resp.Body)
		return 0, 0, fmt.Errorf("status %d: %s", resp.StatusCode, out)
	}
	br := bufio.NewReaderSize(resp.Body, 256<<10)
	var first time.Duration
	rows := 0
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte(`{"row"`)) {
			if rows == 0 {
				first = time.Since(start)
			}
			rows++
		} else if bytes.HasPrefix(line, []byte(`{"error"`)) {
			return first, rows, fmt.Errorf("%s", line)
		}
		if err == io.EOF {
			return first, rows, nil
		} else if err != nil && err != bufio.ErrBufferFull {
			return first, rows, err
		}
	}
}

func directPool(b *testing.B, conns int32) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL(b).String())
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = conns
	p, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

// latencies runs n calls of fn over `clients` goroutines and reports p50,
// p99 and requests per second.
func latencies(b *testing.B, clients, n int, fn func() error) {
	var mu sync.Mutex
	all := make([]time.Duration, 0, n)
	var next, errs atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			local := make([]time.Duration, 0, n/clients+1)
			for next.Add(1) <= int64(n) {
				t := time.Now()
				if err := fn(); err != nil {
					errs.Add(1)
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(errs.Load()), "errors")
}

// BenchmarkSelect1 is SELECT 1 through a pooled pgx call vs. through the
// gateway's HTTP API with a session, at 1, 8 and 32 clients.
func BenchmarkSelect1(b *testing.B) {
	g := startGateway(b)
	p := directPool(b, 32)
	const n = 5000
	for _, clients := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("direct/clients=%d", clients), func(b *testing.B) {
			for b.Loop() {
				latencies(b, clients, n, func() error {
					var v int
					return p.QueryRow(context.Background(), "SELECT 1").Scan(&v)
				})
			}
		})
		b.Run(fmt.Sprintf("gateway/clients=%d", clients), func(b *testing.B) {
			for b.Loop() {
				cpu := g.cpu()
				defer g.reportCPU(b, cpu, n)
				latencies(b, clients, n, func() error {
					_, rows, err := g.query(context.Background(), "SELECT 1", 10)
					if err == nil && rows != 1 {
						err = fmt.Errorf("got %d rows", rows)
					}
					return err
				})
			}
		})
	}
}

const fiveColumns = `SELECT g AS id, 'name-' || g AS name, g * 1.5::float8 AS score, (g %% 2 = 0) AS flag,
	timestamptz '2026-01-01' + g * interval '1 second' AS ts FROM generate_series(1, %d) g`

// BenchmarkRows streams 1 and 10 million rows of five mixed columns: pgx
// iterating and encoding each row with encoding/json vs. the gateway's
// NDJSON read in full by a client.
func BenchmarkRows(b *testing.B) {
	g := startGateway(b)
	p := directPool(b, 2)
	for _, n := range []int{1_000_000, 10_000_000} {
		q := fmt.Sprintf(fiveColumns, n)
		b.Run(fmt.Sprintf("direct/rows=%d", n), func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				rows, err := p.Query(context.Background(), q)
				if err != nil {
					b.Fatal(err)
				}
				enc := json.NewEncoder(io.Discard)
				var first time.Duration
				count := 0
				for rows.Next() {
					v, err := rows.Values()
					if err != nil {
						b.Fatal(err)
					}
					if count == 0 {
						first = time.Since(start)
					}
					enc.Encode(v)
					count++
				}
				if rows.Err() != nil || count != n {
					b.Fatalf("got %d rows: %v", count, rows.Err())
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
				b.ReportMetric(float64(first.Microseconds())/1000, "first-row-ms")
			}
		})
		b.Run(fmt.Sprintf("gateway/rows=%d", n), func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				first, count, err := g.query(context.Background(), q, n)
				if err != nil || count != n {
					b.Fatalf("got %d rows: %v", count, err)
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
				b.ReportMetric(float64(first.Microseconds())/1000, "first-row-ms")
				b.ReportMetric(g.peakRSS(), "gateway-peak-MiB")
			}
		})
	}
}

// BenchmarkConcurrent sends 20,000 small queries from 32 clients.
func BenchmarkConcurrent(b *testing.B) {
	g := startGateway(b)
	for b.Loop() {
		cpu := g.cpu()
		defer g.reportCPU(b, cpu, 20000)
		latencies(b, 32, 20000, func() error {
			_, rows, err := g.query(context.Background(), "SELECT g, 'x' || g FROM generate_series(1, 10) g", 100)
			if err == nil && rows != 10 {
				err = fmt.Errorf("got %d rows", rows)
			}
			return err
		})
	}
}
