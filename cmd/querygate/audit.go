package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/store"
)

// auditExport writes the audit trail, from --since on, as JSON lines.
func (m *Main) auditExport(ctx context.Context) error {
	_, err := m.audit.Export(ctx, m.Stdout, store.AuditFilter{Since: m.Config.AuditSince})
	return err
}

// auditHead is this instance's audit head record: in the data directory,
// beside the master key and outside the store (see package audit).
func (m *Main) auditHead() string { return filepath.Join(m.Config.DataDir, audit.HeadFile) }

// auditVerify checks the chain, and checks it against the head records
// (--head, by default this data directory's): with several replicas, pass
// each replica's record to detect the deletion of the newest events
// whichever replica wrote them.
func (m *Main) auditVerify(ctx context.Context) error {
	heads := m.Config.AuditHeads
	if len(heads) == 0 {
		heads = []string{m.auditHead()}
	}
	rep, err := m.audit.Verify(ctx, heads...)
	if err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(m.Stdout, n)
	}
	for _, p := range rep.Problems {
		if p.Seq > 0 {
			fmt.Fprintf(m.Stdout, "FAIL event %d: %s\n", p.Seq, p.Reason)
		} else {
			fmt.Fprintf(m.Stdout, "FAIL %s\n", p.Reason)
		}
	}
	fmt.Fprintf(m.Stdout, "checked %d audit events: %d problems\n", rep.Events, len(rep.Problems))
	if len(rep.Problems) > 0 {
		return fmt.Errorf("the audit trail was altered (%d problems)", len(rep.Problems))
	}
	return nil
}
