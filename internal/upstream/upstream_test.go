package upstream

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var (
	down    = errs.E(errs.Unavailable, "AssumeRole failed: cannot reach the endpoint")
	bug     = errors.New("unexpected answer")
	refusal = errs.E(errs.Upstream, "AssumeRole failed: AccessDenied")
	invalid = errs.E(errs.Invalid, "policy too long")
)

// step is one call of a scenario: after advancing the clock by wait, a call of key "k"
// is acquired and ended with result; want is the reason it is refused ("" for let through).
type step struct {
	wait   time.Duration
	result error
	want   string
	after  time.Duration // the RetryAfter of a refusal, checked when not zero
}

func run(t *testing.T, o Options, steps []step) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	o.Now = clk.now
	b := New(o)
	for i, s := range steps {
		clk.t = clk.t.Add(s.wait)
		c, err := b.Acquire("k")
		got := ""
		if r := AsRefused(err); r != nil {
			got = r.Reason
			if s.after != 0 && r.RetryAfter != s.after {
				t.Errorf("step %d: retry after %v, want %v", i, r.RetryAfter, s.after)
			}
		}
		if got != s.want {
			t.Fatalf("step %d: refused %q, want %q", i, got, s.want)
		}
		if c != nil {
			c.Done(s.result)
		}
	}
}

func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestBreaker(t *testing.T) {
	o := Options{Failures: 3, Cooldown: 10 * time.Second, MaxCooldown: 25 * time.Second, Rate: 1000, Burst: 1000}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"opens after consecutive failures", concat(
			repeat(3, step{result: down}),
			[]step{{want: ReasonBreaker, after: 10 * time.Second}, {wait: 4 * time.Second, want: ReasonBreaker, after: 6 * time.Second}},
		)},
		{"errors without a kind count", concat(
			repeat(3, step{result: bug}),
			[]step{{want: ReasonBreaker}},
		)},
		{"a success resets the count", concat(
			repeat(2, step{result: down}), []step{{}}, repeat(2, step{result: down}),
			[]step{{}},
		)},
		{"refusals and invalid requests neither count nor reset", concat(
			repeat(2, step{result: down}), repeat(10, step{result: refusal}), repeat(10, step{result: invalid}),
			[]step{{result: down}, {want: ReasonBreaker}},
		)},
		{"half-open probe that succeeds closes", concat(
			repeat(3, step{result: down}),
			[]step{{wait: 10 * time.Second}, {}, {result: down}, {result: down}, {}},
		)},
		{"failed probes back off up to the maximum", concat(
			repeat(3, step{result: down}),
			[]step{
				{wait: 10 * time.Second, result: down},                            // probe fails: open for 20 s
				{wait: 19 * time.Second, want: ReasonBreaker, after: time.Second}, //
				{wait: time.Second, result: down},                                 // probe fails: 40 s capped at 25 s
				{wait: 24 * time.Second, want: ReasonBreaker, after: time.Second},
				{wait: time.Second},                            // probe succeeds: closed, cooldown reset
				{result: down}, {result: down}, {result: down}, // opens again for 10 s, not 25
				{wait: 10 * time.Second},
			},
		)},
		{"a probe that says nothing lets the next call probe", concat(
			repeat(3, step{result: down}),
			[]step{{wait: 10 * time.Second, result: invalid}, {result: down}, {want: ReasonBreaker, after: 20 * time.Second}},
		)},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, o, tc.steps) })
	}
}

func TestRate(t *testing.T) {
	run(t, Options{Rate: 2, Burst: 3}, concat(
		repeat(3, step{}),
		[]step{
			{want: ReasonRate, after: 500 * time.Millisecond},
			{wait: 250 * time.Millisecond, want: ReasonRate, after: 250 * time.Millisecond},
			{wait: 250 * time.Millisecond},
			{want: ReasonRate},
			{wait: time.Hour}, {}, {}, // refills up to the burst only
			{want: ReasonRate},
		},
	))
}

// TestOnlyOneProbeAndBoundedInFlight holds calls open: a half-open breaker lets exactly one
// through, and a closed one at most MaxInFlight.
func TestOnlyOneProbeAndBoundedInFlight(t *testing.T) {
	clk := &clock{t: time.Now()}
	var events []string
	b := New(Options{Failures: 1, MaxInFlight: 2, Now: clk.now, OnBreaker: func(k any, open bool) {
		events = append(events, fmt.Sprintf("%v %v", k, open))
	}})
	c1, _ := b.Acquire("k")
	c2, _ := b.Acquire("k")
	if _, err := b.Acquire("k"); AsRefused(err) == nil || AsRefused(err).Reason != ReasonInFlight {
		t.Fatalf("third concurrent call: %v", err)
	}
	if _, err := b.Acquire("other"); err != nil {
		t.Fatalf("another key shares the bound: %v", err)
	}
	c1.Done(down) // opens
	c2.Done(down) // ends while open: no further effect
	clk.t = clk.t.Add(DefaultCooldown)
	probe, err := b.Acquire("k")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.Acquire("k"); AsRefused(err) == nil || AsRefused(err).Reason != ReasonBreaker {
			t.Fatalf("a second call while the probe is in flight: %v", err)
		}
	}
	probe.Done(nil)
	if _, err := b.Acquire("k"); err != nil {
		t.Fatalf("after a successful probe: %v", err)
	}
	if got := strings.Join(events, ","); got != "k true,k false" {
		t.Errorf("breaker events %q", got)
	}
}

func TestForgetStartsAfresh(t *testing.T) {
	clk := &clock{t: time.Now()}
	opened := 0
	b := New(Options{Failures: 1, Now: clk.now, OnBreaker: func(_ any, open bool) {
		if open {
			opened++
		} else {
			opened--
		}
	}})
	c, _ := b.Acquire("k")
	c.Done(down)
	stale, _ := b.Acquire("j")
	b.Forget(func(k any) bool { return k == "k" || k == "j" })
	if opened != 0 {
		t.Errorf("%d breakers counted open after Forget", opened)
	}
	if _, err := b.Acquire("k"); err != nil {
		t.Fatalf("forgotten key still refused: %v", err)
	}
	stale.Done(down) // a call of the forgotten budget touches nothing
	if _, err := b.Acquire("j"); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedDoesNotRetain(t *testing.T) {
	b := New(Options{Failures: 1})
	c, _ := b.Acquire("k")
	c.Done(down)
	_, err := b.Acquire("k")
	r := AsRefused(err)
	if r == nil || r.Failures != 1 || r.Last != down {
		t.Fatalf("refusal %+v; want the failure count and the last failure", r)
	}
}

func TestSweepForgetsOnlyIdleKeys(t *testing.T) {
	clk := &clock{t: time.Now()}
	b := New(Options{Failures: 1, Now: clk.now})
	c, _ := b.Acquire("failing")
	c.Done(down)
	held, _ := b.Acquire("busy")
	for i := range sweepAt + 10 {
		c, _ := b.Acquire(i)
		c.Done(nil)
		clk.t = clk.t.Add(time.Second) // the bucket refills: idle
	}
	if len(b.keys) > sweepAt {
		t.Errorf("%d keys kept", len(b.keys))
	}
	if f := b.keys["failing"]; f == nil || f.state != open {
		t.Error("the sweep forgot an open breaker")
	}
	if b.keys["busy"] == nil {
		t.Error("the sweep forgot a key with a call in flight")
	}
	held.Done(nil)
}
