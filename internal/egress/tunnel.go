package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/seal"
)

// DialFunc dials a network address (the Dialer's DialContext, a Tunnel's
// Dial).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// The settings and secrets of an SSH tunnel, shared by the kinds that can
// be reached through a bastion (see kind.SSHFields).
const (
	SSHHost       = "ssh_host"
	SSHPort       = "ssh_port"
	SSHUser       = "ssh_user"
	SSHHostKey    = "ssh_host_key"
	SSHPrivateKey = "ssh_private_key"
	SSHPassphrase = "ssh_passphrase"
	SSHPassword   = "ssh_password"
)

// SSH is the decoded SSH tunnel of a datasource: the bastion every
// connection of the datasource goes through. It holds secrets and prints
// as REDACTED.
type SSH struct {
	redacted
	// Host and Port are the bastion's, as the settings name them.
	Host string
	Port int
	User string
	// HostKey is the bastion's host key as the user confirmed it: a
	// known_hosts line, a public key line or a SHA256 fingerprint.
	HostKey    string
	PrivateKey seal.Secret
	Passphrase seal.Secret
	Password   seal.Secret
}

// Secrets are a datasource's opened secrets (connect.Secrets).
type Secrets interface {
	Get(name string) (seal.Secret, bool)
}

// redacted makes the SSH settings, which hold secrets, print, log and
// marshal as REDACTED whatever code touches them.
type redacted struct{}

func (redacted) String() string               { return "REDACTED" }
func (redacted) GoString() string             { return "REDACTED" }
func (redacted) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (redacted) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// Addr is the bastion's host:port.
func (s *SSH) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DecodeSSH reads a datasource's tunnel settings and secrets: nil when
// ssh_host is not set. Its errors are querygate.ECONFIG, naming settings, never
// their values.
func DecodeSSH(settings map[string]any, secrets Secrets) (*SSH, error) {
	host, _ := settings[SSHHost].(string)
	if host == "" {
		return nil, nil
	}
	get := func(name string) (seal.Secret, bool) {
		if secrets == nil {
			return seal.Secret{}, false
		}
		return secrets.Get(name)
	}
	s := &SSH{Host: host, Port: 22}
	switch p := settings[SSHPort].(type) {
	case float64:
		s.Port = int(p)
	case int64:
		s.Port = int(p)
	case int:
		s.Port = p
	}
	s.User, _ = settings[SSHUser].(string)
	s.HostKey, _ = settings[SSHHostKey].(string)
	s.PrivateKey, _ = get(SSHPrivateKey)
	s.Passphrase, _ = get(SSHPassphrase)
	s.Password, _ = get(SSHPassword)
	switch {
	case s.Port < 1 || s.Port > 65535:
		return nil, querygate.Errorf(querygate.ECONFIG, "The setting %s must be a port from 1 to 65535.", SSHPort)
	case s.User == "":
		return nil, querygate.Errorf(querygate.ECONFIG, "The setting %s is required with %s.", SSHUser, SSHHost)
	case s.HostKey == "":
		return nil, querygate.Errorf(querygate.ECONFIG, "The setting %s is required with %s: the bastion's host key is never trusted on first use.", SSHHostKey, SSHHost)
	case s.PrivateKey.IsZero() && s.Password.IsZero():
		return nil, querygate.Errorf(querygate.ECONFIG, "An SSH tunnel needs the secret %s or %s.", SSHPrivateKey, SSHPassword)
	}
	if _, err := ParseHostKey(s.HostKey); err != nil {
		return nil, err
	}
	return s, nil
}

// HostKey is a confirmed host key: a public key, or only its SHA256
// fingerprint.
type HostKey struct {
	// Key is the public key; nil when only Fingerprint is known.
	Key ssh.PublicKey
	// Fingerprint is the key's SHA256 fingerprint ("SHA256:...", no padding).
	Fingerprint string
}

// ParseHostKey reads the ssh_host_key setting: a SHA256 fingerprint
// ("SHA256:" and base64), a public key line ("ssh-ed25519 AAAA...") or a
// known_hosts line (whose host names are not read: the key is the one
// confirmed for this datasource's bastion). Its error is ECONFIG.
func ParseHostKey(s string) (HostKey, error) {
	s = strings.TrimSpace(s)
	bad := querygate.Errorf(querygate.ECONFIG, "The setting %s must be a known_hosts line, a public key line or a SHA256 fingerprint (SHA256:...).", SSHHostKey)
	if fp, ok := strings.CutPrefix(s, "SHA256:"); ok {
		fp = strings.TrimRight(fp, "=")
		if len(fp) != 43 || strings.ContainsAny(fp, " \t") {
			return HostKey{}, bad
		}
		return HostKey{Fingerprint: "SHA256:" + fp}, nil
	}
	key, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		var marker string
		marker, _, key, _, rest, err = ssh.ParseKnownHosts([]byte(s))
		if err == nil && marker != "" { // @cert-authority or @revoked
			return HostKey{}, bad
		}
	}
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return HostKey{}, bad
	}
	return HostKey{Key: key, Fingerprint: ssh.FingerprintSHA256(key)}, nil
}

// hostKeyAlgorithms are the algorithms that make a server offer a key of
// the confirmed key's type (so that a server with several host keys
// offers the one confirmed); nil when only a fingerprint is known.
func (h HostKey) hostKeyAlgorithms() []string {
	if h.Key == nil {
		return nil
	}
	if t := h.Key.Type(); t != ssh.KeyAlgoRSA {
		return []string{t}
	}
	return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
}

// hostKeyError is a bastion that offered another host key than the one
// confirmed.
type hostKeyError struct{ offered, keyType string }

func (e *hostKeyError) Error() string { return "ssh: host key mismatch" }

// TunnelKeepAlive is how often an idle tunnel's SSH connection is probed;
// a connection that does not answer within the same time is closed and
// opened again on the next use.
var TunnelKeepAlive = 30 * time.Second

// tunnelHandshake bounds the bastion's TCP connect and SSH handshake when
// the context has no earlier deadline.
const tunnelHandshake = 15 * time.Second

// Tunnel carries a datasource's connections through one SSH connection to
// its bastion, opened on first use, kept alive, opened again after a
// failure, and closed by Close. Its Dial is a DialFunc.
// It is safe for concurrent use.
type Tunnel struct {
	s       *SSH
	key     HostKey
	auth    []ssh.AuthMethod
	dial    DialFunc
	check   func(host string, port uint16) error
	sem     chan struct{}
	mu      sync.Mutex
	client  *ssh.Client
	closed  bool
	opening chan struct{} // closed when an opening in progress ends
}

// NewTunnel returns the tunnel of s. dial dials the bastion (the egress
// dialer); check is asked about every final destination, as named, before
// the bastion is asked for a channel to it (egress.Policy.CheckNamed);
// at most channels connections are open through it at once (at least
// one). It does not connect. Its errors are ECONFIG.
func NewTunnel(s *SSH, dial DialFunc, check func(host string, port uint16) error, channels int) (*Tunnel, error) {
	if s == nil || dial == nil || check == nil {
		return nil, querygate.Errorf(querygate.ECONFIG, "The SSH tunnel is not configured.")
	}
	key, err := ParseHostKey(s.HostKey)
	if err != nil {
		return nil, err
	}
	t := &Tunnel{s: s, key: key, dial: dial, check: check, sem: make(chan struct{}, max(channels, 1))}
	if !s.PrivateKey.IsZero() {
		var signer ssh.Signer
		if s.Passphrase.IsZero() {
			signer, err = ssh.ParsePrivateKey([]byte(s.PrivateKey.Reveal()))
		} else {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(s.PrivateKey.Reveal()), []byte(s.Passphrase.Reveal()))
		}
		if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
			return nil, querygate.Errorf(querygate.ECONFIG, "The secret %s is encrypted: send its %s too.", SSHPrivateKey, SSHPassphrase)
		}
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, querygate.Errorf(querygate.ECONFIG, "The secret %s cannot be opened with this %s.", SSHPrivateKey, SSHPassphrase)
		}
		if err != nil {
			return nil, querygate.Errorf(querygate.ECONFIG, "The secret %s is not a PEM or OpenSSH private key the gateway can use.", SSHPrivateKey)
		}
		t.auth = append(t.auth, ssh.PublicKeys(signer))
	}
	if !s.Password.IsZero() {
		password := s.Password
		t.auth = append(t.auth, ssh.PasswordCallback(func() (string, error) { return password.Reveal(), nil }))
	}
	return t, nil
}

// Dial opens a connection to address ("host:port") through the bastion.
// The destination is checked as named before anything is asked of the
// bastion; the SSH connection is opened when there is none. Errors say
// which hop failed: the bastion cannot be reached (querygate.EUNREACHABLE, or the
// egress refusal of the bastion), its host key is not the confirmed one
// (querygate.ECONFIG, naming the fingerprint offered), it refused the credentials
// (querygate.EAUTH), it refused to connect to the destination (querygate.EUNREACHABLE).
func (t *Tunnel) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, querygate.Errorf(querygate.ECONFIG, "Only TCP connections can go through an SSH tunnel.")
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, querygate.Errorf(querygate.ECONFIG, "The destination is not a host and port.")
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, querygate.Errorf(querygate.ECONFIG, "The destination's port is not a number from 1 to 65535.")
	}
	if err := t.check(host, uint16(port)); err != nil {
		return nil, err
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	conn, err := t.channel(ctx, address)
	if err != nil {
		<-t.sem
		return nil, err
	}
	return conn, nil
}

// channel opens a direct-tcpip channel to address, opening the SSH
// connection again once when the one held has failed.
func (t *Tunnel) channel(ctx context.Context, address string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		c, err := t.connection(ctx)
		if err != nil {
			return nil, err
		}
		ch, err := c.DialContext(ctx, "tcp", address)
		if err == nil {
			return t.bridge(ch), nil
		}
		if oe, ok := errors.AsType[*ssh.OpenChannelError](err); ok {
			return nil, querygate.Errorf(querygate.EUNREACHABLE, "The SSH bastion %s could not connect to %s (%s).", t.s.Addr(), address, oe.Reason)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The SSH connection itself failed: drop it and try a new one.
		t.drop(c)
		if attempt > 0 {
			return nil, querygate.Errorf(querygate.EUNREACHABLE, "The connection to the SSH bastion %s was lost.", t.s.Addr())
		}
	}
}

// connection returns the SSH connection, opening it when there is none.
// One opening runs at a time; the others wait for it.
func (t *Tunnel) connection(ctx context.Context) (*ssh.Client, error) {
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, querygate.Errorf(querygate.EUNREACHABLE, "The SSH tunnel is closed.")
		}
		if t.client != nil {
			c := t.client
			t.mu.Unlock()
			return c, nil
		}
		if wait := t.opening; wait != nil {
			t.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		t.opening = done
		t.mu.Unlock()

		c, err := t.open(ctx)
		t.mu.Lock()
		t.opening = nil
		close(done)
		if err == nil {
			if t.closed {
				t.mu.Unlock()
				c.Close()
				return nil, querygate.Errorf(querygate.EUNREACHABLE, "The SSH tunnel is closed.")
			}
			t.client = c
			go t.watch(c)
		}
		t.mu.Unlock()
		return c, err
	}
}

// open dials the bastion through the egress dialer and runs the SSH
// handshake, checking the host key and authenticating.
func (t *Tunnel) open(ctx context.Context) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, tunnelHandshake)
	defer cancel()
	addr := t.s.Addr()
	conn, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		if qe := asError(err); qe != nil {
			return nil, qe
		}
		return nil, querygate.Errorf(querygate.EUNREACHABLE, "The SSH bastion %s cannot be reached.", addr)
	}
	var keyOK atomic.Bool
	cfg := &ssh.ClientConfig{
		User: t.s.User,
		Auth: t.auth,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			fp := ssh.FingerprintSHA256(key)
			if t.key.Key != nil && key.Type() == t.key.Key.Type() && string(key.Marshal()) == string(t.key.Key.Marshal()) ||
				t.key.Key == nil && fp == t.key.Fingerprint {
				keyOK.Store(true)
				return nil
			}
			return &hostKeyError{offered: fp, keyType: key.Type()}
		},
		HostKeyAlgorithms: t.key.hostKeyAlgorithms(),
		Timeout:           tunnelHandshake,
	}
	// The handshake is bounded by ctx: its deadline on the socket, and
	// its cancellation closes the socket.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !stop() || err != nil {
		conn.Close()
		if hk, ok := errors.AsType[*hostKeyError](err); ok {
			return nil, querygate.Errorf(querygate.ECONFIG, "The SSH bastion %s offered the host key %s (%s), which is not the one in %s: the connection was refused. Check the fingerprint with the bastion's administrator before changing the setting.", addr, hk.offered, hk.keyType, SSHHostKey)
		}
		if ctx.Err() != nil {
			return nil, querygate.Errorf(querygate.EUNREACHABLE, "The SSH bastion %s did not complete the SSH handshake in time.", addr)
		}
		if keyOK.Load() {
			return nil, querygate.Errorf(querygate.EAUTH, "The SSH bastion %s refused the user %s with this %s or %s.", addr, t.s.User, SSHPrivateKey, SSHPassword)
		}
		return nil, querygate.Errorf(querygate.EUNREACHABLE, "The SSH bastion %s did not complete an SSH handshake.", addr)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// asError returns err's *querygate.Error (an egress refusal), if any.
func asError(err error) error {
	if qe, ok := errors.AsType[*querygate.Error](err); ok {
		return qe
	}
	return nil
}

// watch probes c every TunnelKeepAlive and closes it when a probe fails;
// once c ends, the tunnel forgets it, so the next Dial opens another.
func (t *Tunnel) watch(c *ssh.Client) {
	ended := make(chan struct{})
	go func() {
		_ = c.Wait()
		close(ended)
		t.drop(c)
	}()
	tick := time.NewTicker(TunnelKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ended:
			return
		case <-tick.C:
			answered := make(chan error, 1)
			go func() {
				_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
				answered <- err
			}()
			select {
			case err := <-answered:
				if err != nil {
					c.Close()
				}
			case <-time.After(TunnelKeepAlive):
				c.Close()
			case <-ended:
				return
			}
		}
	}
}

// drop closes c and forgets it when it is the tunnel's connection.
func (t *Tunnel) drop(c *ssh.Client) {
	t.mu.Lock()
	if t.client == c {
		t.client = nil
	}
	t.mu.Unlock()
	c.Close()
}

// Close closes the SSH connection and every connection through it; Dial
// fails afterwards.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	t.closed = true
	c := t.client
	t.client = nil
	t.mu.Unlock()
	if c != nil {
		c.Close()
	}
	return nil
}

// bridge returns a connection with deadlines (which SSH channels lack and
// every connector sets) that carries the bytes of ch, and frees its
// channel slot once closed.
func (t *Tunnel) bridge(ch net.Conn) net.Conn {
	local, remote := net.Pipe()
	var once sync.Once
	end := func() {
		once.Do(func() {
			ch.Close()
			remote.Close()
			<-t.sem
		})
	}
	go func() { _, _ = io.Copy(remote, ch); end() }()
	go func() { _, _ = io.Copy(ch, remote); end() }()
	return local
}
