package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/postgres"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/store/sqlstore"
)

// storeDB is a store that store copy can read and write.
type storeDB interface {
	store.Store
	CopySide(write bool) sqlstore.Side
}

// open opens what the command needs: the store (opening migrates), and
// then the instance keys and the audit log.
func (m *Main) open(ctx context.Context) error {
	if m.cmd.open == openNothing {
		return nil
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	db, err := m.openStore(ctx, m.Config.DatabaseURL)
	if err != nil {
		return err
	}
	m.db = db
	if m.cmd.open == openStore {
		return nil
	}
	m.inst, err = instance.Open(ctx, db, instance.Options{
		KeyFile: m.Config.MasterKeyFile, MasterKey: m.Config.MasterKey, Salt: m.Config.EncryptionSalt,
		CreateKey: m.cmd.createKey, Logger: m.log,
	})
	if err != nil {
		return err
	}
	var journal string
	if m.Config.DatabaseURL != "" && audit.JournalHasRecords(filepath.Join(m.Config.DataDir, audit.JournalFile)) {
		// A gateway on this data directory's embedded store stopped
		// without moving its journal (a crash), or runs now: with
		// --database-url those events are not this store's to take.
		m.log.Warn("the data directory holds an audit journal with events of its embedded store that may not be in it yet; run `querygate audit verify` on that data directory without --database-url to move them",
			"path", filepath.Join(m.Config.DataDir, audit.JournalFile))
	}
	if m.Config.DatabaseURL == "" {
		// The embedded store: one gateway per data directory, so its
		// events go through the audit journal (see internal/audit).
		journal = filepath.Join(m.Config.DataDir, audit.JournalFile)
	}
	m.audit = audit.New(audit.Options{Store: db, Key: m.inst.AuditKey, Logger: m.log, Head: m.auditHead(), Queued: m.Config.AuditQueued,
		Journal: journal, JournalNoSync: m.Config.StoreSync == sqlite.SyncNormal})
	return nil
}

// openStore opens a store named as --database-url is, or the embedded
// SQLite file of the data directory when url is empty. Opening migrates.
func (m *Main) openStore(ctx context.Context, url string) (storeDB, error) {
	if url == "" {
		if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		return sqlite.OpenWith(ctx, filepath.Join(m.Config.DataDir, "querygate.db"), sqlite.Options{Sync: m.Config.StoreSync})
	}
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		return sqlite.Open(ctx, path)
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, errors.New("the store URL must start with postgres:// (or, for store copy, sqlite:PATH)")
	}
	return postgres.Open(ctx, url)
}
