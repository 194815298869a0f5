package query

import (
	"context"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
)

// Schema is the schema-read use case (GET /api/datasources/{id}/schema):
// the actor, with the use grant, reads what datasource dsID shows of its
// schema. A device-custody datasource needs the device key brought by
// keys, refused like a query when it has none. The read goes through the
// datasource's pool like a query (egress, read-only, clean sessions, the
// default timeout), is bounded by the service's schema limits, and is
// forgotten once answered: nothing of it is stored or logged. A kind
// without a schema reader answers an empty schema. Exactly one audit
// event is recorded, whatever happens; it counts tables and columns,
// never names them.
func (s *Service) Schema(ctx context.Context, a accounts.Actor, dsID string, keys DeviceKeys) (*schema.Schema, error) {
	start := time.Now()
	ev := audit.Event{Action: audit.SchemaRead, Target: audit.ClientID(dsID), DatasourceID: audit.ClientID(dsID), Details: map[string]any{}}
	sc, err := s.readSchema(ctx, a, dsID, keys, ev.Details)
	elapsed := time.Since(start)
	ev.Details["duration_ms"] = elapsed.Milliseconds()
	s.record(ctx, a, ev, err)
	outcome := audit.OK
	if err != nil {
		outcome = querygate.ErrorCode(err)
	}
	// Metadata only: never a name of the schema.
	s.log.InfoContext(ctx, "schema", "request_id", a.RequestID, "user_id", a.UserID(), "datasource_id", audit.ClientID(dsID),
		"kind", ev.Details["kind"], "tables", ev.Details["tables"], "columns", ev.Details["columns"], "truncated", ev.Details["truncated"],
		"elapsed_ms", elapsed.Milliseconds(), "outcome", outcome)
	if err != nil {
		return nil, err
	}
	return sc, nil
}

func (s *Service) readSchema(ctx context.Context, a accounts.Actor, dsID string, keys DeviceKeys, details map[string]any) (*schema.Schema, error) {
	d, err := s.Authorize(ctx, a, dsID, accounts.ActionDatasourceUse)
	if err != nil {
		return nil, err
	}
	details["kind"] = d.Kind
	dev, err := s.openDevice(ctx, a, d, keys)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.limits.DefaultTimeout)
	defer cancel()
	conn, release, err := s.connector(ctx, d, dev)
	if err != nil {
		return nil, timeoutError(ctx, err)
	}
	defer release()
	sc, err := connect.ReadSchema(ctx, conn, s.schemaLimits)
	if err != nil {
		return nil, timeoutError(ctx, err)
	}
	tables, columns := sc.Count()
	details["tables"], details["columns"], details["truncated"] = tables, columns, sc.Truncated
	return sc, nil
}
