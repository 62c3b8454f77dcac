package sqlstore_test

import (
	"path/filepath"
	"testing"

	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
	"github.com/tarnhq/tarn/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// databases are the databases every test of both runs on; open returns a new, empty Store,
// closed when t ends.
var databases = []struct {
	name string
	open func(t *testing.T) *sqlstore.Store
}{
	{"sqlite", func(t *testing.T) *sqlstore.Store { return openSQLite(t, filepath.Join(t.TempDir(), "tarn.db")) }},
	{"postgres", func(t *testing.T) *sqlstore.Store { return openPostgres(t, pgtest.URL(t)) }},
}

func openSQLite(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(t.Context(), path)
	return opened(t, s, err)
}

func openPostgres(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenPostgres(t.Context(), url)
	return opened(t, s, err)
}

// opened fails t if err is set, else closes s when t ends.
func opened(t *testing.T, s *sqlstore.Store, err error) *sqlstore.Store {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return db.open(t) })
		})
	}
}
