package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/store/postgres"
	"github.com/querygate/querygate/internal/store/sqlstore"
)

// storeCopy copies an instance's store into a new, empty one, sealed
// blobs as they are, and verifies the copy table by table. It opens no
// secret and needs no master key.
func (m *Main) storeCopy(ctx context.Context) error {
	// Opening a store migrates it, so both are looked at first: a wrong
	// name must change nothing.
	if err := checkCopySide(ctx, m.Config.CopyFrom, true); err != nil {
		return err
	}
	if err := checkCopySide(ctx, m.Config.CopyTo, false); err != nil {
		return err
	}
	src, err := m.openStore(ctx, m.Config.CopyFrom)
	if err != nil {
		return fmt.Errorf("source store: %w", err)
	}
	defer src.Close()
	if path, ok := strings.CutPrefix(m.Config.CopyFrom, "sqlite:"); ok {
		// A gateway that stopped without moving its audit journal into
		// the store (a crash) left acknowledged events there: copied
		// without them, the trail would lose them.
		dir := filepath.Dir(path)
		n, err := audit.JournalUnmoved(ctx, filepath.Join(dir, audit.JournalFile), src)
		if err != nil {
			return fmt.Errorf("source store: %w", err)
		}
		if n > 0 {
			return querygate.Errorf(querygate.EINVALID, "The audit journal next to the source store holds %d events not yet moved into it (the gateway stopped without moving them). Run `querygate audit verify --data-dir %s` (it moves them), then copy again.", n, dir)
		}
	}
	dst, err := m.openStore(ctx, m.Config.CopyTo)
	if err != nil {
		return fmt.Errorf("target store: %w", err)
	}
	defer dst.Close()
	report, err := sqlstore.Copy(ctx, src.CopySide(false), dst.CopySide(true))
	if err != nil {
		return err
	}
	var total int64
	for _, r := range report {
		fmt.Fprintf(m.Stdout, "%-22s %8d rows  sha256 %s\n", r.Table, r.Rows, r.Digest)
		total += r.Rows
	}
	fmt.Fprintf(m.Stdout, "Copied and verified %d rows in %d tables; secrets stay sealed. %s\n", total, len(report), startOn(m.Config.CopyTo))
	return nil
}

// startOn tells how to start the gateway on a copy: for PostgreSQL with
// --database-url (the URL itself is not repeated: it may hold a password),
// for SQLite with the --data-dir that holds it as querygate.db.
func startOn(to string) string {
	path, ok := strings.CutPrefix(to, "sqlite:")
	if !ok {
		return "Start the gateway on it with --database-url (or QUERYGATE_DATABASE_URL) and the same master key."
	}
	if dir, file := filepath.Split(path); file == "querygate.db" {
		dir = filepath.Clean(dir)
		return fmt.Sprintf("Start the gateway on it with --data-dir %s and the same master key (copy the key file to %s, or give --master-key-file).", dir, filepath.Join(dir, "master.key"))
	}
	return "To start the gateway on it, move it to querygate.db in a directory and give that directory as --data-dir, with the same master key (copy the key file there as master.key, or give --master-key-file)."
}

// checkCopySide refuses a source that is not a querygate store (a missing
// SQLite file, a database without querygate's tables) and a target that
// holds anything but querygate's tables, before either is opened.
func checkCopySide(ctx context.Context, url string, source bool) error {
	which := "--to"
	if source {
		which = "--from"
	}
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		st, err := os.Stat(path)
		switch {
		case source && err != nil:
			return fmt.Errorf("store copy: %s: no SQLite store at %s", which, path)
		case !source && err == nil && st.Size() > 0:
			return fmt.Errorf("store copy: %s: %s exists; copy into a new file", which, path)
		}
		return nil
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return fmt.Errorf("store copy: %s must be sqlite:PATH or a postgres:// URL", which)
	}
	have, err := postgres.Tables(ctx, url)
	if err != nil {
		return fmt.Errorf("store copy: %s: %w", which, err)
	}
	ours := sqlstore.Tables()
	if source && !slices.Contains(have, "schema_migrations") {
		return fmt.Errorf("store copy: %s: that database holds no querygate store", which)
	}
	for _, t := range have {
		if !slices.Contains(ours, t) {
			return fmt.Errorf("store copy: %s: that database holds a table %q that is not querygate's; copy into a new, empty database", which, t)
		}
	}
	return nil
}
