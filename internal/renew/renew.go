// Package renew is the one rule by which tarn's clients renew what they hold that expires
// (the credentials storage.OpenBucket vends, the tarn tokens a client.WorkloadTokenSource
// exchanges): when to renew, and when to try again after a renewal failed. A simulated
// week of reads through two STS outages (storage/week_test.go) proved it.
package renew

import "time"

const (
	// At is the fraction of a lifetime after which a renewal starts at the latest.
	At = 0.8
	// Margin is how long before expiry a renewal starts, if that is earlier than At: the
	// outage of the tarn server or of its STS that a renewal survives, since the old
	// credential keeps serving while renewals fail.
	Margin = 30 * time.Minute
	// NotBefore is the fraction of a lifetime before which a renewal never starts, however
	// short the lifetime, so that short lifetimes do not make a storm of renewals.
	NotBefore = 0.5
	// RetryMin and RetryMax bound the wait after a failed renewal (see RetryDelay).
	RetryMin = 30 * time.Second
	RetryMax = 5 * time.Minute
)

// After returns how long after its arrival something that arrived with life left is
// renewed: when At (80 %) of life has passed or Margin (30 minutes) before it expires,
// whichever is earlier, but never before NotBefore (half) of life has passed. A renewal
// thus starts with at least min(30 minutes, life/2) left, the outage it survives: 30
// minutes for a fresh 1-hour credential, 15 minutes for one that a server's cache answered
// with only half of its hour left, where 80 % alone would leave 6 minutes.
func After(life time.Duration) time.Duration {
	late := min(time.Duration(float64(life)*At), life-Margin)
	return max(late, time.Duration(float64(life)*NotBefore))
}

// RetryDelay returns how long to wait after a failed renewal before the next attempt when
// what is held has left to live: a quarter of left, at least RetryMin (30 seconds) and at
// most RetryMax (5 minutes), but never more than half of left. A long outage thus costs
// each client a few attempts, not two a minute, and the attempts crowd in as expiry nears.
func RetryDelay(left time.Duration) time.Duration {
	return min(max(left/4, RetryMin), RetryMax, left/2)
}
