// Package upstream budgets the calls tarn makes to a provider's upstream (STS AssumeRole, a
// token service) per key: a token bucket bounds their rate, a semaphore the number in
// flight, and a circuit breaker stops them while the upstream keeps failing.
//
// The breaker is closed while calls succeed. After Options.Failures consecutive failures
// it opens for a cooldown, during which every call is refused without reaching the
// upstream. When the cooldown is over the next call is let through as a probe (half-open)
// while the others are still refused: a probe that succeeds closes the breaker, one that
// fails opens it again for twice the previous cooldown (at most Options.MaxCooldown).
//
// Only failures that say the upstream is unwell count (Options.Failure): by default errors
// of kind Unavailable or Internal. A caller's mistake (Invalid, Permission, NotFound) or an
// upstream's refusal that retrying will not fix (Upstream) leaves the count as it was: such
// answers come fast and do not load a struggling upstream, and the token bucket bounds them
// anyway.
package upstream

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tarnhq/tarn/internal/errs"
)

// Defaults of Options.
const (
	DefaultRate        = 20 // calls per second per key
	DefaultBurst       = 40
	DefaultMaxInFlight = 32
	DefaultFailures    = 5
	DefaultCooldown    = 30 * time.Second
	DefaultMaxCooldown = 5 * time.Minute
	// probeRetryAfter is the wait asked of callers refused while a probe is in flight: it
	// is likely to end soon, one way or the other.
	probeRetryAfter = time.Second
	// sweepAt is the number of keys past which adding one first forgets the idle ones.
	sweepAt = 1024
)

// Options configure Budgets. The zero value gives the defaults above.
type Options struct {
	// Rate is the sustained number of calls per second allowed per key, Burst the number
	// allowed at once after a quiet spell.
	Rate  float64
	Burst int
	// MaxInFlight bounds the calls of one key that run at the same time.
	MaxInFlight int
	// Failures is the number of consecutive failures that opens a key's breaker.
	Failures int
	// Cooldown is how long a breaker stays open the first time; each failed probe doubles
	// it, up to MaxCooldown.
	Cooldown, MaxCooldown time.Duration
	// Failure tells whether an error of a call counts as a failure of the upstream; nil
	// means errors of kind Unavailable or Internal (errors without a kind are Internal).
	Failure func(error) bool
	// OnBreaker, when set, is called as a key's breaker opens (open true: it was closed)
	// and as it closes or its key is forgotten while it was not closed (open false), with
	// the Budgets' lock held: it must be quick and must not call back.
	OnBreaker func(key any, open bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Reasons of a Refused call.
const (
	ReasonBreaker  = "breaker"  // the key's breaker is open, or its probe is in flight
	ReasonRate     = "rate"     // the key's calls per second are spent
	ReasonInFlight = "inflight" // the key has MaxInFlight calls running
)

// Refused is the error of a call the budget did not let through.
type Refused struct {
	Reason     string
	RetryAfter time.Duration // when a call may be let through again, at the earliest
	// Failures and Last are, for a breaker refusal, the consecutive failures that opened
	// it and the last of them.
	Failures int
	Last     error
}

func (r *Refused) Error() string {
	switch r.Reason {
	case ReasonBreaker:
		return "upstream breaker open"
	case ReasonRate:
		return "upstream call rate exceeded"
	}
	return "too many upstream calls in flight"
}

// Budgets hold the budget of every key, of any comparable type, created on first use. They
// are safe for concurrent use.
type Budgets struct {
	o    Options
	mu   sync.Mutex
	keys map[any]*budget
}

type state int

const (
	closed state = iota
	open
	halfOpen
)

type budget struct {
	limiter  *rate.Limiter
	inFlight int
	state    state
	failures int           // consecutive failures
	last     error         // the last of them
	until    time.Time     // while open: when the cooldown ends
	cooldown time.Duration // of the last opening; zero while it never opened since closing
	probing  bool          // half-open: the probe is in flight
}

// New returns empty Budgets.
func New(o Options) *Budgets {
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.Failures <= 0 {
		o.Failures = DefaultFailures
	}
	if o.Cooldown <= 0 {
		o.Cooldown = DefaultCooldown
	}
	if o.MaxCooldown <= 0 {
		o.MaxCooldown = DefaultMaxCooldown
	}
	o.MaxCooldown = max(o.MaxCooldown, o.Cooldown)
	if o.Failure == nil {
		o.Failure = Unwell
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Budgets{o: o, keys: map[any]*budget{}}
}

// Unwell reports whether err says the upstream is unwell: it is of kind Unavailable or
// Internal.
func Unwell(err error) bool {
	k := errs.KindOf(err)
	return k == errs.Unavailable || k == errs.Internal
}

// Call is a call let through; its caller reports how it ended with Done, exactly once.
type Call struct {
	b     *Budgets
	key   any
	bud   *budget
	probe bool
}

// Acquire lets a call of key through, or refuses it with a *Refused error: while key's
// breaker is open or its probe is in flight, when MaxInFlight calls of key are running, or
// when key's rate is spent. A refused call takes nothing from the budget.
func (b *Budgets) Acquire(key any) (*Call, error) {
	now := b.o.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	bud := b.keys[key]
	if bud == nil {
		if len(b.keys) >= sweepAt {
			b.sweep(now)
		}
		bud = &budget{limiter: rate.NewLimiter(rate.Limit(b.o.Rate), b.o.Burst)}
		b.keys[key] = bud
	}
	probe := false
	switch bud.state {
	case open:
		if now.Before(bud.until) {
			return nil, bud.refused(bud.until.Sub(now))
		}
		bud.state = halfOpen
		fallthrough
	case halfOpen:
		if bud.probing {
			return nil, bud.refused(probeRetryAfter)
		}
		probe = true
	}
	if bud.inFlight >= b.o.MaxInFlight {
		return nil, &Refused{Reason: ReasonInFlight, RetryAfter: time.Second}
	}
	r := bud.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, &Refused{Reason: ReasonRate, RetryAfter: d}
	}
	bud.inFlight++
	bud.probing = probe
	return &Call{b: b, key: key, bud: bud, probe: probe}, nil
}

func (bud *budget) refused(after time.Duration) *Refused {
	return &Refused{Reason: ReasonBreaker, RetryAfter: after, Failures: bud.failures, Last: bud.last}
}

// Done reports how the call ended: err nil for a success, else its error, which counts
// as a failure when Options.Failure says so.
func (c *Call) Done(err error) {
	b, bud := c.b, c.bud
	now := b.o.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	bud.inFlight--
	if c.probe {
		bud.probing = false
	}
	if b.keys[c.key] != bud { // forgotten meanwhile: its state went with it
		return
	}
	switch {
	case err == nil:
		if bud.state != closed && b.o.OnBreaker != nil {
			b.o.OnBreaker(c.key, false)
		}
		bud.state, bud.failures, bud.last, bud.cooldown = closed, 0, nil, 0
	case !b.o.Failure(err):
		// Says nothing of the upstream's health; a half-open breaker lets the next call probe.
	case bud.state == halfOpen && c.probe:
		bud.failures++
		bud.last = err
		bud.cooldown = min(2*bud.cooldown, b.o.MaxCooldown)
		bud.state, bud.until = open, now.Add(bud.cooldown)
	case bud.state == closed:
		bud.failures++
		bud.last = err
		if bud.failures >= b.o.Failures {
			bud.cooldown = b.o.Cooldown
			bud.state, bud.until = open, now.Add(bud.cooldown)
			if b.o.OnBreaker != nil {
				b.o.OnBreaker(c.key, true)
			}
		}
	}
}

// Forget drops the budgets of the keys for which match is true; their next calls start
// afresh with a closed breaker and a full bucket.
func (b *Budgets) Forget(match func(key any) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, bud := range b.keys {
		if match(k) {
			b.remove(k, bud)
		}
	}
}

func (b *Budgets) remove(k any, bud *budget) {
	if bud.state != closed && b.o.OnBreaker != nil {
		b.o.OnBreaker(k, false)
	}
	delete(b.keys, k)
}

// sweep forgets the keys whose budget is as good as new: closed with no failures, nothing
// in flight and a full bucket. b.mu must be held.
func (b *Budgets) sweep(now time.Time) {
	for k, bud := range b.keys {
		if bud.state == closed && bud.failures == 0 && bud.inFlight == 0 && bud.limiter.TokensAt(now) >= float64(b.o.Burst) {
			b.remove(k, bud)
		}
	}
}

// AsRefused returns the *Refused in err's chain, or nil.
func AsRefused(err error) *Refused {
	var r *Refused
	if errors.As(err, &r) {
		return r
	}
	return nil
}
