package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
)

// TestPostgresTwoServers opens one empty database from four Stores at the same moment, as
// `tarn serve` processes starting together behind a load balancer would: all of them
// migrate safely, see each other's writes and refuse overlapping datasets created at once
// through different servers.
func TestPostgresTwoServers(t *testing.T) {
	url := pgtest.URL(t)
	testSharedDatabase(t, func(t *testing.T) store.Store { return openPostgres(t, url) })
}

func TestOpenPostgresErrors(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		kind      errs.Kind
	}{
		{"closed port", "postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", errs.Unavailable},
		{"bad URL", "postgres://u:hunter2@127.0.0.1:5432/db?sslmode=nonsense", errs.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlstore.OpenPostgres(t.Context(), tc.url)
			if err == nil {
				s.Close()
				t.Fatal("OpenPostgres succeeded")
			}
			if !errs.Is(tc.kind, err) {
				t.Errorf("OpenPostgres = %v, want kind %v", err, tc.kind)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func ExampleOpenPostgres() {
	url := os.Getenv(pgtest.EnvServer) // e.g. postgres://postgres@127.0.0.1:5432/tarn?sslmode=disable
	if url == "" {
		return
	}
	s, err := sqlstore.OpenPostgres(context.Background(), url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	fmt.Println(s.Ping(context.Background()))
}
