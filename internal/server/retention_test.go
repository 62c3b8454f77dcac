package server_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/server"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
)

// passLog is a log handler that reports each line of the audit retention on a channel.
type passLog struct{ lines chan slog.Record }

func (passLog) Enabled(context.Context, slog.Level) bool { return true }
func (h passLog) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "audit retention") {
		h.lines <- r
	}
	return nil
}
func (h passLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h passLog) WithGroup(string) slog.Handler      { return h }

// TestServerStartPrunesOldAuditRecords starts a server, as tarn serve does, on a database
// that holds audit records on both sides of --audit-retention (by the server's injected
// clock): at start the older ones go and the recent ones stay, as the API shows. With a
// retention of zero every record stays.
func TestServerStartPrunesOldAuditRecords(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	records := map[string]time.Duration{ // request ID: age
		"r-31d": 31 * day, "r-30d1s": 30*day + time.Second, "r-29d": 29 * day, "r-1h": time.Hour,
	}
	for _, tc := range []struct {
		name      string
		retention time.Duration
		want      []string
	}{
		{"30 days", 30 * day, []string{"r-1h", "r-29d"}},
		{"forever", 0, []string{"r-1h", "r-29d", "r-30d1s", "r-31d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(dir, "tarn.db"))
			if err != nil {
				t.Fatal(err)
			}
			var batch []store.AuditRecord
			for id, age := range records {
				batch = append(batch, store.AuditRecord{Time: now.Add(-age), RequestID: id, Org: "local", Principal: "user:admin",
					Action: "vend", Result: "ok"})
			}
			if _, err := st.AppendAudits(t.Context(), batch); err != nil {
				t.Fatal(err)
			}
			st.Close()

			log := passLog{lines: make(chan slog.Record, 16)}
			srv, err := server.New(t.Context(), server.Options{DataDir: dir, Now: func() time.Time { return now },
				AuditRetention: tc.retention, Logger: slog.New(log)})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(t.Context())
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, ln) }()
			defer func() {
				stop()
				if err := <-served; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			if tc.retention > 0 {
				select {
				case r := <-log.lines:
					if r.Level != slog.LevelInfo {
						t.Fatalf("retention pass: %s", r.Message)
					}
				case <-time.After(time.Minute):
					t.Fatal("no retention pass within a minute of the start")
				}
			}

			tok, err := os.ReadFile(filepath.Join(dir, server.TokenFile))
			if err != nil {
				t.Fatal(err)
			}
			c, err := client.New(client.Options{Endpoint: "http://" + ln.Addr().String(), Token: strings.TrimSpace(string(tok))})
			if err != nil {
				t.Fatal(err)
			}
			list, err := c.Audit(t.Context(), "local", client.AuditQuery{Action: "vend"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range list.Records {
				if _, ours := records[r.RequestID]; ours {
					got = append(got, r.RequestID)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("records after start with retention %v: %v, want %v", tc.retention, got, tc.want)
			}
			if tc.retention == 0 && len(log.lines) > 0 {
				t.Errorf("retention forever ran a pass: %s", (<-log.lines).Message)
			}
		})
	}
}
