package egress_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/egress"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/testenv"
)

// bastion is a real OpenSSH server on a loopback port.
type bastion struct {
	addr    string
	hostKey ssh.PublicKey
	user    string
	// key, and keyPass (the same key sealed with passphrase), are
	// authorized.
	key, keyPass string
	passphrase   string
}

// startSSHD starts the test bastion (testenv.SSHD).
func startSSHD(t *testing.T) *bastion {
	t.Helper()
	b := testenv.SSHD(t)
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(b.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	return &bastion{addr: b.Addr, hostKey: hostKey, user: b.User, key: b.Key, keyPass: b.KeyPass, passphrase: b.Passphrase}
}

// secrets is a connect.Secrets of plain values.
type tsecrets map[string]string

func (s tsecrets) Get(name string) (seal.Secret, bool) {
	v, ok := s[name]
	return seal.NewSecret(v), ok
}
func (s tsecrets) Headers(string) map[string]seal.Secret { return nil }

// settings returns the tunnel settings of b, with the confirmed host key.
func (b *bastion) settings(hostKey string) map[string]any {
	host, port, _ := net.SplitHostPort(b.addr)
	p, _ := strconv.Atoi(port)
	return map[string]any{egress.SSHHost: host, egress.SSHPort: float64(p), egress.SSHUser: b.user, egress.SSHHostKey: hostKey}
}

// tunnel opens a tunnel to b dialled through d and checked with policy,
// counting the dials of the bastion.
func (b *bastion) tunnel(t *testing.T, settings map[string]any, sec tsecrets, policy *egress.Policy) (*egress.Tunnel, *atomic.Int32) {
	t.Helper()
	s, err := egress.DecodeSSH(settings, sec)
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	d := egress.NewDialer(egress.Options{Policy: policy})
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, address)
	}
	tun, err := egress.NewTunnel(s, dial, policy.CheckNamed, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun, &dials
}

type rows struct{ got [][]any }

func (r *rows) Columns([]connect.Column) error { return nil }
func (r *rows) Row(v []any) error {
	r.got = append(r.got, append([]any(nil), v...))
	return nil
}

// postgresThrough opens a PostgreSQL connector on the local server whose
// connections go through tun.
func postgresThrough(t *testing.T, tun *egress.Tunnel) connect.Connector {
	t.Helper()
	u := testenv.PostgresURL(t)
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = 5432
	}
	ps, err := postgres.DecodeSettings(map[string]any{"host": u.Hostname(), "port": int64(port),
		"database": strings.TrimPrefix(u.Path, "/"), "user": u.User.Username(), "sslmode": "disable"}, connect.NoSecrets{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := postgres.New(connect.Config{Settings: ps, Dial: tun.Dial, MaxConns: 2, MaxIdle: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTunnelQueries(t *testing.T) {
	b := startSSHD(t)
	known := "[127.0.0.1]:22 " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(b.hostKey)))
	for _, tc := range []struct {
		name    string
		hostKey string
		sec     tsecrets
	}{
		{"known_hosts line, key", known, tsecrets{egress.SSHPrivateKey: b.key}},
		{"fingerprint, key with passphrase", ssh.FingerprintSHA256(b.hostKey),
			tsecrets{egress.SSHPrivateKey: b.keyPass, egress.SSHPassphrase: b.passphrase}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tun, dials := b.tunnel(t, b.settings(tc.hostKey), tc.sec, egress.DefaultPolicy())
			c := postgresThrough(t, tun)
			ctx := context.Background()
			for i := range 3 {
				var r rows
				if _, err := c.Query(ctx, connect.Request{Query: "SELECT $1::int + 1", Params: []any{float64(i)}}, &r); err != nil {
					t.Fatalf("query through the tunnel: %v", err)
				}
				if len(r.got) != 1 || fmt.Sprint(r.got[0][0]) != strconv.Itoa(i+1) {
					t.Fatalf("got %v", r.got)
				}
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("the bastion was dialled %d times; want one SSH connection for the pool", n)
			}
		})
	}
}

func TestTunnelHops(t *testing.T) {
	b := startSSHD(t)
	ctx := context.Background()
	good := tsecrets{egress.SSHPrivateKey: b.key}
	fp := ssh.FingerprintSHA256(b.hostKey)

	t.Run("wrong host key", func(t *testing.T) {
		_, other := testenv.NewSSHKey(t, "")
		tun, _ := b.tunnel(t, b.settings(string(ssh.MarshalAuthorizedKey(other))), good, egress.DefaultPolicy())
		_, err := tun.Dial(ctx, "tcp", testenv.PostgresURL(t).Host)
		if querygate.ErrorCode(err) != querygate.ECONFIG || !strings.Contains(querygate.ErrorMessage(err), fp) {
			t.Fatalf("got %v; want a host key mismatch naming the offered %s", err, fp)
		}
	})
	t.Run("wrong fingerprint", func(t *testing.T) {
		_, other := testenv.NewSSHKey(t, "")
		tun, _ := b.tunnel(t, b.settings(ssh.FingerprintSHA256(other)), good, egress.DefaultPolicy())
		_, err := tun.Dial(ctx, "tcp", testenv.PostgresURL(t).Host)
		if querygate.ErrorCode(err) != querygate.ECONFIG || !strings.Contains(querygate.ErrorMessage(err), fp) {
			t.Fatalf("got %v; want a host key mismatch naming the offered %s", err, fp)
		}
	})
	t.Run("authentication failed", func(t *testing.T) {
		stranger, _ := testenv.NewSSHKey(t, "")
		tun, _ := b.tunnel(t, b.settings(fp), tsecrets{egress.SSHPrivateKey: stranger}, egress.DefaultPolicy())
		_, err := tun.Dial(ctx, "tcp", testenv.PostgresURL(t).Host)
		if querygate.ErrorCode(err) != querygate.EAUTH {
			t.Fatalf("got %v; want %s", err, querygate.EAUTH)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Fatalf("the error holds the key: %v", err)
		}
	})
	t.Run("bastion unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := l.Addr().(*net.TCPAddr).Port
		l.Close()
		s := b.settings(fp)
		s[egress.SSHPort] = float64(closed)
		tun, _ := b.tunnel(t, s, good, egress.DefaultPolicy())
		_, err = tun.Dial(ctx, "tcp", testenv.PostgresURL(t).Host)
		if querygate.ErrorCode(err) != querygate.EUNREACHABLE || !strings.Contains(querygate.ErrorMessage(err), "bastion") {
			t.Fatalf("got %v; want the bastion unreachable", err)
		}
	})
	t.Run("target refused by the bastion", func(t *testing.T) {
		tun, _ := b.tunnel(t, b.settings(fp), good, egress.DefaultPolicy())
		_, err := tun.Dial(ctx, "tcp", "127.0.0.1:1")
		if querygate.ErrorCode(err) != querygate.EUNREACHABLE || !strings.Contains(querygate.ErrorMessage(err), "could not connect to 127.0.0.1:1") {
			t.Fatalf("got %v; want the bastion's refusal", err)
		}
	})
	t.Run("denied destination", func(t *testing.T) {
		deny, err := egress.ParseRule("127.0.0.1:5432")
		if err != nil {
			t.Fatal(err)
		}
		self := netip.MustParseAddrPort("127.0.0.1:8080")
		policy := egress.NewPolicy(egress.Rules{Deny: []egress.Rule{deny}, Self: []netip.AddrPort{self}})
		tun, dials := b.tunnel(t, b.settings(fp), good, policy)
		for _, target := range []string{"127.0.0.1:5432", "169.254.169.254:80", "127.0.0.1:8080", "[::ffff:169.254.169.254]:80", "0x7f000001:5432"} {
			_, err := tun.Dial(ctx, "tcp", target)
			if querygate.ErrorCode(err) != querygate.EEGRESS {
				t.Errorf("%s: got %v; want %s", target, err, querygate.EEGRESS)
			}
		}
		if n := dials.Load(); n != 0 {
			t.Errorf("the bastion was dialled %d times for denied destinations; want none", n)
		}
		// With the SSH connection open, a denied destination still gets
		// no channel.
		c, err := tun.Dial(ctx, "tcp", testenv.PostgresURL(t).Host)
		if querygate.ErrorCode(err) != querygate.EEGRESS {
			if err == nil {
				c.Close()
			}
			t.Fatalf("got %v; want %s", err, querygate.EEGRESS)
		}
	})
	t.Run("bounded channels", func(t *testing.T) {
		tun, _ := b.tunnel(t, b.settings(fp), good, egress.DefaultPolicy())
		var open []net.Conn
		for range 4 {
			c, err := tun.Dial(ctx, "tcp", testenv.PostgresURL(t).Host)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
		}
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if c, err := tun.Dial(short, "tcp", testenv.PostgresURL(t).Host); err == nil {
			c.Close()
			t.Fatal("a fifth channel opened on a tunnel of four")
		}
		open[0].Close()
		c, err := tun.Dial(ctx, "tcp", testenv.PostgresURL(t).Host)
		if err != nil {
			t.Fatalf("a channel freed by Close: %v", err)
		}
		c.Close()
		for _, c := range open[1:] {
			c.Close()
		}
	})
	t.Run("closed", func(t *testing.T) {
		tun, dials := b.tunnel(t, b.settings(fp), good, egress.DefaultPolicy())
		c := postgresThrough(t, tun)
		var r rows
		if _, err := c.Query(ctx, connect.Request{Query: "SELECT 1"}, &r); err != nil {
			t.Fatal(err)
		}
		tun.Close()
		if _, err := tun.Dial(ctx, "tcp", testenv.PostgresURL(t).Host); err == nil {
			t.Fatal("a closed tunnel dialled")
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("dials = %d, want 1", n)
		}
	})
}

// passwordBastion is an SSH server of x/crypto/ssh on a loopback port that
// takes one user and password and forwards direct-tcpip channels: the
// ssh_password path, which the OpenSSH test bastion (keys only, as root)
// cannot offer.
func passwordBastion(t *testing.T, user, password string) (addr string, hostKey ssh.PublicKey) {
	t.Helper()
	keyPEM, pub := testenv.NewSSHKey(t, "")
	signer, err := ssh.ParsePrivateKey([]byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		if c.User() == user && string(pw) == password {
			return nil, nil
		}
		return nil, fmt.Errorf("wrong password")
	}}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
				if err != nil {
					nc.Close()
					return
				}
				go ssh.DiscardRequests(reqs)
				for nch := range chans {
					if nch.ChannelType() != "direct-tcpip" {
						nch.Reject(ssh.UnknownChannelType, "only direct-tcpip")
						continue
					}
					var p struct {
						Host     string
						Port     uint32
						OrigHost string
						OrigPort uint32
					}
					if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
						nch.Reject(ssh.ConnectionFailed, "bad request")
						continue
					}
					target, err := net.Dial("tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
					if err != nil {
						nch.Reject(ssh.ConnectionFailed, "cannot connect")
						continue
					}
					ch, creqs, err := nch.Accept()
					if err != nil {
						target.Close()
						continue
					}
					go ssh.DiscardRequests(creqs)
					go func() { io.Copy(ch, target); ch.CloseWrite() }()
					go func() { io.Copy(target, ch); target.Close() }()
				}
			}()
		}
	}()
	return l.Addr().String(), pub
}

// TestTunnelPassword: ssh_password authenticates at the bastion, and a
// wrong one is an SSH authentication failure, not the datasource's.
func TestTunnelPassword(t *testing.T) {
	const user, password = "tunnel", "tunnel-password-77c1"
	addr, hostKey := passwordBastion(t, user, password)
	b := &bastion{addr: addr, hostKey: hostKey, user: user}
	policy := egress.NewPolicy(egress.Rules{})
	fp := ssh.FingerprintSHA256(hostKey)
	tun, _ := b.tunnel(t, b.settings(fp), tsecrets{egress.SSHPassword: password}, policy)
	pg := postgresThrough(t, tun)
	var got rows
	if _, err := pg.Query(t.Context(), connect.Request{Query: "SELECT 1"}, &got); err != nil || len(got.got) != 1 {
		t.Fatalf("query through a password tunnel: %v %v", got.got, err)
	}
	bad, _ := b.tunnel(t, b.settings(fp), tsecrets{egress.SSHPassword: "not the password"}, policy)
	if _, err := postgresThrough(t, bad).Query(t.Context(), connect.Request{Query: "SELECT 1"}, &rows{}); querygate.ErrorCode(err) != querygate.EAUTH {
		t.Errorf("wrong SSH password: %v, want %s", err, querygate.EAUTH)
	}
}
