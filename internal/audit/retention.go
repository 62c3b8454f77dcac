package audit

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tarnhq/tarn/internal/store"
)

// Retention defaults.
const (
	// DefaultRetention is how long tarn serve keeps audit records unless told otherwise.
	DefaultRetention = 400 * 24 * time.Hour
	// DefaultRetentionEvery is the time between two passes of Retain.
	DefaultRetentionEvery = time.Hour
	// DefaultRetentionBatch is how many records one transaction of a pass deletes.
	DefaultRetentionBatch = 1000
	// DefaultRetentionPause is the pause between two transactions of a pass, which leaves
	// the database's writer to the requests.
	DefaultRetentionPause = 50 * time.Millisecond
)

// RetentionOptions configure Prune and Retain. Store is required.
type RetentionOptions struct {
	Store store.Store
	// Keep is how long records are kept: those older than Keep are deleted. Zero or less
	// keeps them forever.
	Keep time.Duration
	// Every is the time between two passes of Retain; zero means DefaultRetentionEvery.
	Every time.Duration
	// Batch is how many records one transaction deletes; zero means DefaultRetentionBatch.
	Batch int
	// Pause is the pause between two transactions; zero means DefaultRetentionPause.
	Pause time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives a line for each pass that deleted records or failed; nil discards them.
	Logger *slog.Logger

	afterPass func() // tests: called after each pass of Retain
}

func (o *RetentionOptions) defaults() {
	if o.Every <= 0 {
		o.Every = DefaultRetentionEvery
	}
	if o.Batch <= 0 {
		o.Batch = DefaultRetentionBatch
	}
	if o.Pause <= 0 {
		o.Pause = DefaultRetentionPause
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Prune deletes the records older than o.Keep (by o.Now), o.Batch at a time with o.Pause
// between transactions, so that no transaction holds the database's writer for long. It
// returns how many records it deleted, with the error that stopped it, if any (ctx's too).
func Prune(ctx context.Context, o RetentionOptions) (int, error) {
	o.defaults()
	if o.Keep <= 0 {
		return 0, nil
	}
	before := o.Now().Add(-o.Keep)
	total := 0
	for {
		n, err := o.Store.DeleteAuditBefore(ctx, before, o.Batch)
		total += n
		if err != nil || n < o.Batch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, context.Cause(ctx)
		case <-time.After(o.Pause):
		}
	}
}

// Retain prunes (see Prune) at once and then every o.Every, until ctx ends. It does nothing
// when o.Keep is zero or less. Failures are logged; the next pass tries again.
func Retain(ctx context.Context, o RetentionOptions) {
	o.defaults()
	if o.Keep <= 0 {
		return
	}
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	for {
		n, err := Prune(ctx, o)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			o.Logger.Error("audit retention failed; the next pass tries again", "deleted", n, "err", err)
		case n > 0:
			o.Logger.Info("audit retention", "deleted", n, "kept", o.Keep.String())
		}
		if o.afterPass != nil {
			o.afterPass()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// maxDays is the most days ParseRetention accepts: more would overflow a time.Duration.
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// ParseRetention parses an audit retention: a Go duration ("720h"), a whole number of days
// ("400d"), or "0" or "forever" for keeping records forever, which it returns as zero.
// Negative values are refused.
func ParseRetention(s string) (time.Duration, error) {
	bad := errors.New("use days (400d), a duration (720h), or 0 or forever to keep audit records forever")
	switch {
	case s == "forever" || s == "0":
		return 0, nil
	case strings.HasSuffix(s, "d"):
		n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 64)
		if err != nil || n < 0 || n > maxDays || strings.HasPrefix(s, "+") {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}
