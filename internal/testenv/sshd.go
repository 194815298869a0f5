package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is where Debian's openssh-server puts sshd.
const SSHDPath = "/usr/sbin/sshd"

// Bastion is a real OpenSSH server on a loopback port, for SSH tunnel
// tests: it forwards TCP to any address for the current user, who
// authenticates with Key, or with KeyPass sealed with Passphrase.
type Bastion struct {
	Addr string
	// HostKey is the server's public host key, as an authorized_keys
	// line.
	HostKey string
	User    string
	// Key and KeyPass are OpenSSH private keys in PEM form.
	Key, KeyPass string
	Passphrase   string
}

// NewSSHKey returns a fresh ed25519 key in OpenSSH PEM form, sealed with
// passphrase when it is not empty, and its public key.
func NewSSHKey(tb testing.TB, passphrase string) (string, ssh.PublicKey) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		tb.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), sp
}

// SSHD starts sshd with a host key and two authorized keys of its own,
// allowing TCP forwarding, and stops it when the test ends. Without sshd
// the test is skipped (failed under CI=true).
func SSHD(tb testing.TB) *Bastion {
	tb.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		Skipf(tb, "sshd (Debian's openssh-server) is not installed at %s", SSHDPath)
	}
	u, err := user.Current()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	hostPEM, hostPub := NewSSHKey(tb, "")
	key, keyPub := NewSSHKey(tb, "")
	const passphrase = "tunnel-passphrase-3a9f"
	keyPass, keyPassPub := NewSSHKey(tb, passphrase)
	authorized := string(ssh.MarshalAuthorizedKey(keyPub)) + string(ssh.MarshalAuthorizedKey(keyPassPub))
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "host_key"), []byte(hostPEM), 0o600))
	must(os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(authorized), 0o600))
	// The privilege separation directory; it may exist already.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		tb.Logf("mkdir /run/sshd: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	addr := l.Addr().String()
	l.Close()
	_, port, err := net.SplitHostPort(addr)
	must(err)
	conf := fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
PermitOpen any
LogLevel ERROR
`, port, filepath.Join(dir, "host_key"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	must(os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o600))
	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var log strings.Builder
	cmd.Stderr = &log
	must(cmd.Start())
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	WaitFor(tb, 10*time.Second, "sshd to listen", func() bool {
		select {
		case <-exited:
			tb.Fatalf("sshd exited: %s", log.String())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return &Bastion{Addr: addr, HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub))), User: u.Username,
		Key: key, KeyPass: keyPass, Passphrase: passphrase}
}
