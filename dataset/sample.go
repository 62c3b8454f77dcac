package dataset

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"iter"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
)

// sample is Iter with opts.Sample > 0: it streams every row once, keeping a sample of
// opts.Sample rows in memory, and then yields the sample (see IterOptions.Sample).
func (ds *Dataset) sample(ctx context.Context, opts IterOptions) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x73616d70)) // "samp"
		s := newSampler(opts.Sample, opts.Replace, rng)
		all := opts // every row, in order
		all.Sample, all.ShuffleBuffer = 0, 0
		var n int64
		for r, err := range ds.Iter(ctx, all) {
			if err != nil {
				yield(nil, err)
				return
			}
			w := 1.0
			if opts.Weight != nil {
				if w = opts.Weight(r); !(w >= 0) || math.IsInf(w, 1) {
					yield(nil, fmt.Errorf("row %d has sampling weight %v: weights must be finite and not negative", n, w))
					return
				}
			}
			s.add(sampled{pos: n, row: r}, w)
			n++
		}
		rows := s.rows()
		if opts.ShuffleBuffer > 0 {
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		}
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// sampled is a row of the sample, with its position in the stream (its row number) and its
// key in the sampler's heap.
type sampled struct {
	key float64
	pos int64
	row Row
}

// sampler draws a sample from a stream of weighted rows in one pass. Rows of weight zero
// are never drawn.
type sampler interface {
	add(r sampled, w float64)
	rows() []Row // the sample in stream order
}

func newSampler(n int, replace bool, rng *rand.Rand) sampler {
	if replace {
		return &draws{n: n, rng: rng}
	}
	return &reservoir{n: n, rng: rng}
}

// reservoir samples n rows without replacement, each next row drawn with probability
// proportional to its weight among the rows not yet drawn: Efraimidis and Spirakis'
// A-ExpJ, which gives row i the key u^(1/w) (u uniform in (0, 1]) and keeps the n largest
// keys, but draws only how much weight to skip before the next row that enters the
// sample. Keys are kept as logarithms, log(u)/w, so that small weights do not underflow.
type reservoir struct {
	n    int
	rng  *rand.Rand
	h    sampleHeap // the sample, least key at the root
	skip float64    // weight to pass before the next row enters the sample
}

func (s *reservoir) add(r sampled, w float64) {
	if w == 0 {
		return
	}
	if len(s.h) < s.n {
		r.key = s.logU() / w
		heap.Push(&s.h, r)
		if len(s.h) == s.n {
			s.jump()
		}
		return
	}
	if s.skip -= w; s.skip > 0 {
		return
	}
	// r enters with a key drawn uniformly from those above the least, (T, 1], where
	// T = exp(h[0].key): u uniform in (T^w, 1].
	t := math.Exp(w * s.h[0].key)
	r.key = math.Log(t+(1-t)*(1-s.rng.Float64())) / w
	s.h[0] = r
	heap.Fix(&s.h, 0)
	s.jump()
}

// jump draws the weight to skip: log(u) / log(T) for the least key T.
func (s *reservoir) jump() { s.skip = s.logU() / s.h[0].key }

// logU returns log(u) for u uniform in (0, 1].
func (s *reservoir) logU() float64 { return math.Log(1 - s.rng.Float64()) }

func (s *reservoir) rows() []Row { return inOrder(s.h) }

// draws samples n rows with replacement: n independent draws, each of a row with
// probability proportional to its weight among all the rows. Each draw is a one-row
// reservoir, which the row that brings the total weight to W takes with probability w/W;
// the draw's current row, taken at total weight W₀, then survives to total weight W with
// probability W₀/W, so each draw is given the total, W₀/u, past which it takes a new row,
// and a heap finds the draws whose turn it is.
type draws struct {
	n     int
	rng   *rand.Rand
	total float64    // the weight of the rows so far
	h     sampleHeap // the draws, keyed by the total past which each takes the next row
}

func (s *draws) add(r sampled, w float64) {
	if w == 0 {
		return
	}
	s.total += w
	if len(s.h) == 0 {
		s.h = make(sampleHeap, s.n)
	}
	for s.h[0].key < s.total {
		r.key = s.total / (1 - s.rng.Float64())
		s.h[0] = r
		heap.Fix(&s.h, 0)
	}
}

// rows returns the draws in stream order; a row drawn more than once is yielded as
// separate copies of its Row.
func (s *draws) rows() []Row {
	out := inOrder(s.h)
	for i := 1; i < len(out); i++ {
		if s.h[i].pos == s.h[i-1].pos {
			out[i] = maps.Clone(out[i])
		}
	}
	return out
}

// inOrder sorts h by stream position and returns its rows.
func inOrder(h sampleHeap) []Row {
	slices.SortFunc(h, func(a, b sampled) int { return cmp.Compare(a.pos, b.pos) })
	out := make([]Row, len(h))
	for i, r := range h {
		out[i] = r.row
	}
	return out
}

// sampleHeap is a heap of sampled rows, least key at the root.
type sampleHeap []sampled

func (h sampleHeap) Len() int           { return len(h) }
func (h sampleHeap) Less(i, j int) bool { return h[i].key < h[j].key }
func (h sampleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sampleHeap) Push(x any)        { *h = append(*h, x.(sampled)) }
func (h *sampleHeap) Pop() any          { x := (*h)[len(*h)-1]; *h = (*h)[:len(*h)-1]; return x }
