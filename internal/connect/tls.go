package connect

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
)

// TLSConfig builds the TLS configuration of a datasource connection from
// its settings: setting is the name of the mode setting ("sslmode",
// "tls"), modes the modes the kind offers. The modes mean:
//
//	disable      no TLS (nil config)
//	require      encrypted; the chain is checked only when ca_cert is set
//	verify-ca    the chain is checked against ca_cert or the system roots,
//	             the host name is not
//	verify-full  the chain and the host name are checked
//
// There is no mode that falls back to plaintext. TLS 1.2 is the minimum.
// Errors are ECONFIG with fixed sentences: a PEM parser's error may quote
// the key, so it is never shown.
func TLSConfig(setting, mode string, modes []string, host, caPEM, certPEM, keyPEM string) (*tls.Config, error) {
	known := false
	for _, m := range modes {
		known = known || m == mode
	}
	if !known {
		return nil, Errorf(ECONFIG, "The setting %s must be one of %s.", setting, strings.Join(modes, ", "))
	}
	if mode == "disable" {
		return nil, nil
	}
	var roots *x509.CertPool // nil: the system roots
	if caPEM != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, Errorf(ECONFIG, "The setting ca_cert holds no PEM certificate.")
		}
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Sent as SNI for host names, and checked in verify-full. Set here
		// so that no driver picks a name itself.
		ServerName: host,
		RootCAs:    roots,
	}
	switch {
	case certPEM != "" && keyPEM != "":
		cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			return nil, Errorf(ECONFIG, "The client_cert setting and the client_key secret are not a matching PEM certificate and private key.")
		}
		cfg.Certificates = []tls.Certificate{cert}
	case certPEM != "":
		return nil, Errorf(ECONFIG, "The setting client_cert needs the secret client_key.")
	case keyPEM != "":
		return nil, Errorf(ECONFIG, "The secret client_key needs the setting client_cert.")
	}
	switch {
	case mode == "verify-full":
		// crypto/tls checks the chain against RootCAs and the host name
		// against ServerName.
	case mode == "require" && roots == nil:
		// Encrypted, but anyone on the path could pose as the server.
		cfg.InsecureSkipVerify = true
	default: // verify-ca, or require with a CA
		// The default verification would also check the host name, which
		// these modes must not; so verify the chain alone.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, roots)
		}
	}
	return cfg, nil
}

// verifyChain checks that certs[0] chains up to roots (nil: system roots)
// through the other certificates the server sent, without checking a name.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return &tls.CertificateVerificationError{Err: errors.New("the server sent no certificate")}
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}

// IsTLSError reports whether err is a failed TLS handshake or
// verification: an unverified or unknown certificate, a wrong host name,
// an alert from either side, or a server that did not answer in TLS at
// all (crypto/tls returns RecordHeaderError as a value).
func IsTLSError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	// An alert received from the peer is a *net.OpError whose Op is
	// "remote error" around an unexported alert type.
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "remote error" {
		return true
	}
	return false
}
