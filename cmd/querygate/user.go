package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
)

// accounts is the accounts service of serve and user add.
func (m *Main) accounts() *accounts.Service {
	o := accounts.Options{Store: m.db, HashParams: m.HashParams, SessionTTL: m.Config.SessionTTL, SessionIdle: m.Config.SessionIdle}
	if m.audit != nil {
		// The use cases record their events (P14).
		o.Audit = m.audit
	}
	return accounts.NewService(o)
}

// userAdd creates a user (--username, --role checked by ParseFlags) with
// the password from standard input.
func (m *Main) userAdd(ctx context.Context) error {
	pw, err := m.readPassword()
	if err != nil {
		return err
	}
	u, err := m.accounts().CreateUser(ctx, accounts.CreateUserInput{Username: m.Config.Username, Password: pw, Role: m.Config.Role})
	if err != nil {
		return err
	}
	m.audit.Record(ctx, audit.Event{ActorName: "cli", Action: audit.UserCreate, Target: u.ID, Details: map[string]any{"role": u.Role}})
	fmt.Fprintf(m.Stdout, "created user %s (%s) with id %s\n", u.Username, u.Role, u.ID)
	return nil
}

// readPassword prompts without echo on a terminal, and otherwise reads the
// first line of standard input.
func (m *Main) readPassword() (string, error) {
	if f, ok := m.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(m.Stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(m.Stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(m.Stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
