package testpeer

import (
	"sync"
	"testing"
)

// Peer is a running peer: a value that embeds the *Process it runs as.
type Peer interface{ Proc() *Process }

// Proc returns p, so that a type that embeds *Process is a Peer.
func (p *Process) Proc() *Process { return p }

// Shared is a peer that one test binary starts once, on first use, and stops when its tests
// are done (the package's Main or Run calls Stop). It is safe for concurrent use.
type Shared[T Peer] struct {
	// Pkg and Name are what messages call the package and the peer, such as "miniotest"
	// and "MinIO".
	Pkg, Name string
	// Start starts the peer. Cleanup, when set, runs after it has stopped (it removes the
	// peer's data).
	Start   func() (T, error)
	Cleanup func(T)

	mu      sync.Mutex
	in      T
	started bool
	err     error // memoized: a peer that failed to start is not tried again
}

// Get returns the running peer, starting it on first use. It fails t when the peer cannot
// start, and when it has exited during the tests (with the tail of its log).
func (s *Shared[T]) Get(t testing.TB) T {
	t.Helper()
	s.mu.Lock()
	if !s.started {
		s.in, s.err = s.Start()
		s.started = true
	}
	in, err := s.in, s.err
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("%s: %v", s.Pkg, err)
	}
	select {
	case <-in.Proc().Exited:
		t.Fatalf("%s: %s exited during the tests; log %s:\n%s", s.Pkg, s.Name, in.Proc().LogPath, in.Proc().LogTail())
	default:
	}
	return in
}

// Stop stops the peer, if it runs, and runs Cleanup. A later Get starts it again.
func (s *Shared[T]) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && s.err == nil {
		s.in.Proc().Stop()
		if s.Cleanup != nil {
			s.Cleanup(s.in)
		}
	}
	var zero T
	s.in, s.started, s.err = zero, false, nil
}
