package audit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/store"
)

// TestRetentionKeepsDatabaseBounded appends a day of records at a time for 30 simulated days
// (an injected clock) and prunes after each day with a retention of 5 days: the records of
// the last 5 days stay, all older ones go, the table stays at 5 days of records and the
// SQLite file stops growing once the retention is reached (deleted pages are reused).
func TestRetentionKeepsDatabaseBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 30 simulated days of records")
	}
	s, path := openStore(t)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := t.Context()
	const days, keepDays, perDay = 30, 5, 500
	day0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	o := RetentionOptions{Store: s, Keep: keepDays * 24 * time.Hour, Batch: 100, Pause: time.Nanosecond, Now: func() time.Time { return now }}
	sizes := map[int]int64{}
	for d := range days {
		batch := make([]store.AuditRecord, perDay)
		for i := range batch {
			batch[i] = store.AuditRecord{Time: day0.Add(time.Duration(d)*24*time.Hour + time.Duration(i)*(24*time.Hour/perDay)),
				RequestID: fmt.Sprintf("%032d", d*perDay+i), Principal: "token:tok_0123456789", Org: "acme", Action: "vend",
				Target: "s3://bucket/datasets/coco", Mode: "read", Result: OK, KeyID: "acme/k1@v1"}
		}
		if _, err := s.AppendAudits(ctx, batch); err != nil {
			t.Fatal(err)
		}
		now = day0.Add(time.Duration(d+1) * 24 * time.Hour) // the end of day d
		n, err := Prune(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		want := perDay // the day that just left the retention
		if d < keepDays {
			want = 0
		}
		if n != want {
			t.Fatalf("day %d: pruned %d records, want %d", d, n, want)
		}
		if _, err := raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sizes[d] = fi.Size()
	}
	var count int
	var oldest, newest int64
	if err := raw.QueryRowContext(ctx, `SELECT count(*), min(time), max(time) FROM audit`).Scan(&count, &oldest, &newest); err != nil {
		t.Fatal(err)
	}
	if count != keepDays*perDay {
		t.Errorf("%d records left, want the last %d days' %d", count, keepDays, keepDays*perDay)
	}
	if cutoff := now.Add(-o.Keep); time.UnixMicro(oldest).Before(cutoff) {
		t.Errorf("oldest record left is of %v, older than the retention allows (%v)", time.UnixMicro(oldest).UTC(), cutoff)
	}
	if last := now.Add(-24 * time.Hour / perDay); !time.UnixMicro(newest).Equal(last) {
		t.Errorf("newest record left is of %v, want %v", time.UnixMicro(newest).UTC(), last)
	}
	t.Logf("database file: %d KiB after day %d, %d KiB after day %d, %d KiB after day %d",
		sizes[keepDays]>>10, keepDays, sizes[2*keepDays]>>10, 2*keepDays, sizes[days-1]>>10, days-1)
	if limit := sizes[2*keepDays] + sizes[2*keepDays]/10; sizes[days-1] > limit {
		t.Errorf("database file grew from %d KiB (day %d) to %d KiB (day %d) with a bounded table", sizes[2*keepDays]>>10, 2*keepDays, sizes[days-1]>>10, days-1)
	}
}

// TestRetainPrunesAtStart checks that Retain prunes when it starts, not only after Every,
// and that a retention of zero deletes nothing.
func TestRetainPrunesAtStart(t *testing.T) {
	s, _ := openStore(t)
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	_, err := s.AppendAudits(t.Context(), []store.AuditRecord{
		{Time: now.Add(-401 * 24 * time.Hour), RequestID: "r0", Org: "acme"},
		{Time: now.Add(-399 * 24 * time.Hour), RequestID: "r1", Org: "acme"},
	})
	if err != nil {
		t.Fatal(err)
	}
	Retain(t.Context(), RetentionOptions{Store: s, Now: func() time.Time { return now }}) // Keep zero: returns at once
	if got := stored(t, s); len(got) != 2 {
		t.Fatalf("retention zero left %v, want both records", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Retain(ctx, RetentionOptions{Store: s, Keep: DefaultRetention, Every: forever, Now: func() time.Time { return now },
			afterPass: cancel})
	}()
	<-done
	if got := stored(t, s); len(got) != 1 || got[0] != "r1" {
		t.Errorf("after the first pass: %v, want [r1]", got)
	}
}

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"400d", 400 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"0", 0, true},
		{"0d", 0, true},
		{"forever", 0, true},
		{"", 0, false},
		{"d", 0, false},
		{"-1d", 0, false},
		{"+1d", 0, false},
		{"-5h", 0, false},
		{"1.5d", 0, false},
		{"10y", 0, false},
		{"Forever", 0, false},
		{"999999999999d", 0, false}, // overflows a Duration
	} {
		got, err := ParseRetention(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if !tc.ok && err == nil {
			t.Errorf("ParseRetention(%q) = %v, want an error", tc.in, got)
		}
	}
}

// FuzzParseRetention checks that ParseRetention never panics and never returns a
// negative retention.
func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"400d", "720h", "0", "forever", "-1d", "106751d", "106752d", "1h30m", "d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseRetention(s); err == nil && d < 0 {
			t.Errorf("ParseRetention(%q) = %v, negative", s, d)
		}
	})
}
