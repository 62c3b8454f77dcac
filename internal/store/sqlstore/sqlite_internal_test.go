package sqlstore

import (
	"path/filepath"
	"strconv"
	"testing"
)

// TestSQLiteSettings checks the settings every SQLite connection gets.
func TestSQLiteSettings(t *testing.T) {
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "tarn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for pragma, want := range map[string]string{
		"journal_mode":       "wal",
		"journal_size_limit": strconv.Itoa(journalSizeLimit),
		"busy_timeout":       strconv.FormatInt(busyTimeout.Milliseconds(), 10),
		"foreign_keys":       "1",
		"synchronous":        "1", // NORMAL
	} {
		var got string
		if err := s.db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}
