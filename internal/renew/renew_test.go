package renew_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/renew"
)

func TestAfter(t *testing.T) {
	for _, tc := range []struct {
		life, after time.Duration
		why         string
	}{
		{15 * time.Minute, 7*time.Minute + 30*time.Second, "short: half, never sooner"},
		{31 * time.Minute, 15*time.Minute + 30*time.Second, "a cached hour with 31 minutes left: half, 15.5 minutes left"},
		{time.Hour, 30 * time.Minute, "a fresh hour: 30 minutes before expiry"},
		{2 * time.Hour, 90 * time.Minute, "30 minutes before expiry, earlier than 80 %"},
		{150 * time.Minute, 120 * time.Minute, "80 % and 30 minutes before expiry coincide"},
		{12 * time.Hour, 576 * time.Minute, "long: 80 %"},
		{0, 0, "already expired"},
	} {
		if got := renew.After(tc.life); got != tc.after {
			t.Errorf("After(%v) = %v, want %v (%s)", tc.life, got, tc.after, tc.why)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct{ left, want time.Duration }{
		{40 * time.Minute, 5 * time.Minute}, // a quarter, at most 5 minutes
		{12 * time.Minute, 3 * time.Minute}, // a quarter
		{90 * time.Second, 30 * time.Second},
		{40 * time.Second, 20 * time.Second}, // at least 30 seconds, but at most half
		{0, 0},
	} {
		if got := renew.RetryDelay(tc.left); got != tc.want {
			t.Errorf("RetryDelay(%v) = %v, want %v", tc.left, got, tc.want)
		}
	}
}

func Example() {
	fmt.Println(renew.After(time.Hour), renew.RetryDelay(20*time.Minute))
	// Output: 30m0s 5m0s
}
