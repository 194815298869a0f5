package main

import (
	"context"
	"fmt"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/instance"
)

// keysVerify opens every sealed value and reports those that fail.
func (m *Main) keysVerify(ctx context.Context) error {
	checked, failures, err := m.inst.Verify(ctx, m.db)
	if err != nil {
		return err
	}
	for _, f := range failures {
		fmt.Fprintf(m.Stdout, "FAIL %s: %s\n", f.Place, f.Err)
	}
	fmt.Fprintf(m.Stdout, "checked %d sealed values under key ring %s: %d failed\n", checked, m.inst.Envelope.Ring(), len(failures))
	if len(failures) > 0 {
		return fmt.Errorf("%d sealed values cannot be opened", len(failures))
	}
	return nil
}

// keysRotate replaces the master key online (see instance.Rotate).
func (m *Main) keysRotate(ctx context.Context) error {
	id, n, err := m.inst.Rotate(ctx, m.db, instance.RotateOptions{Logger: m.log})
	ev := audit.Event{ActorName: "cli", Action: audit.KeysRotate, Target: id, Details: map[string]any{"resealed": n}}
	if err != nil {
		ev.Outcome = querygate.ErrorCode(err)
	}
	m.audit.Record(ctx, ev)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "rotated to master key %s: re-sealed %d values; the old key is retired. Back up %s now.\n", id, n, m.Config.MasterKeyFile)
	return nil
}
