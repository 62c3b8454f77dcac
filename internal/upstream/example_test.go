package upstream_test

import (
	"fmt"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/upstream"
)

func Example() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a clock that stands still
	b := upstream.New(upstream.Options{Failures: 2, Now: func() time.Time { return now }})
	sts := func() error { return errs.E(errs.Unavailable, "STS cannot be reached") }
	for range 3 {
		call, err := b.Acquire("acme/prod")
		if r := upstream.AsRefused(err); r != nil {
			fmt.Printf("refused (%s) after %d failures; retry after %v\n", r.Reason, r.Failures, r.RetryAfter)
			continue
		}
		err = sts()
		call.Done(err)
		fmt.Println("called:", err)
	}
	// Output:
	// called: STS cannot be reached
	// called: STS cannot be reached
	// refused (breaker) after 2 failures; retry after 30s
}
