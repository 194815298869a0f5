package audit

import "github.com/querygate/querygate/internal/store"

// Filter selects stored events: by actor, action (a trailing "." matches a
// prefix), datasource, outcome, time, and page.
type Filter = store.AuditFilter

// Stored is one event as the trail holds it, with its sequence number and
// hash.
type Stored = store.AuditEvent
