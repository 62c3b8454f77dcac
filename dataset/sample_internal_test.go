package dataset

import (
	"math"
	"math/rand/v2"
	"testing"
)

// drawMany runs trials samplers of n rows over rows of the given weights (row i is
// Row{"i": i}), and returns how often each row was drawn and, per trial, the row numbers
// drawn.
func drawMany(t *testing.T, weights []float64, n int, replace bool, trials int) (counts []int, samples [][]int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	counts = make([]int, len(weights))
	for range trials {
		s := newSampler(n, replace, rng)
		for i, w := range weights {
			s.add(sampled{pos: int64(i), row: Row{"i": i}}, w)
		}
		var got []int
		for _, r := range s.rows() {
			i := r["i"].(int)
			counts[i]++
			got = append(got, i)
		}
		samples = append(samples, got)
	}
	return counts, samples
}

func checkFreq(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s: frequency %.4f, want %.4f ± %.3f", what, got, want, tol)
	}
}

// Without replacement, weighted: row i is in a sample of 2 with probability
// w_i/W + Σ_{j≠i} (w_j/W)·w_i/(W−w_j) (first draw, or second after j).
func TestReservoirWeightedInclusion(t *testing.T) {
	weights := []float64{1, 2, 3, 4, 0}
	const trials = 40000
	counts, samples := drawMany(t, weights, 2, false, trials)
	total := 10.0
	for i, w := range weights[:4] {
		p := w / total
		for j, wj := range weights[:4] {
			if j != i {
				p += wj / total * w / (total - wj)
			}
		}
		checkFreq(t, "row "+string(rune('0'+i)), float64(counts[i])/trials, p, 0.012)
	}
	if counts[4] != 0 {
		t.Errorf("the row of weight 0 was drawn %d times", counts[4])
	}
	for _, s := range samples {
		if len(s) != 2 || s[0] >= s[1] {
			t.Fatalf("sample %v: want 2 distinct rows in order", s)
		}
	}
}

// Without replacement, uniform: every row and every pair of rows is equally likely.
func TestReservoirUniform(t *testing.T) {
	weights := make([]float64, 8)
	for i := range weights {
		weights[i] = 1
	}
	const trials = 40000
	counts, samples := drawMany(t, weights, 3, false, trials)
	for i := range weights {
		checkFreq(t, "row", float64(counts[i])/trials, 3.0/8, 0.015)
	}
	pairs := map[[2]int]int{}
	for _, s := range samples {
		pairs[[2]int{s[0], s[1]}]++
		pairs[[2]int{s[1], s[2]}]++
		pairs[[2]int{s[0], s[2]}]++
	}
	if len(pairs) != 28 {
		t.Fatalf("%d distinct pairs, want 28", len(pairs))
	}
	for _, c := range pairs {
		// Each pair is in a sample with probability C(6,1)/C(8,3) = 6/56.
		checkFreq(t, "pair", float64(c)/trials, 6.0/56, 0.01)
	}
	// Fewer rows than the sample: every row, once.
	_, samples = drawMany(t, weights[:2], 5, false, 1)
	if len(samples[0]) != 2 {
		t.Errorf("sample of 5 of 2 rows is %v", samples[0])
	}
}

// With replacement: each draw is row i with probability w_i/W, independently, so a sample
// of 3 has 3 distinct rows with probability 3!·e₃(p).
func TestDrawsWeighted(t *testing.T) {
	weights := []float64{1, 2, 3, 4, 0}
	const trials = 40000
	counts, samples := drawMany(t, weights, 3, true, trials)
	for i, w := range weights {
		checkFreq(t, "row", float64(counts[i])/(3*trials), w/10, 0.01)
	}
	distinct := 0
	for _, s := range samples {
		if len(s) != 3 {
			t.Fatalf("sample %v: want 3 draws", s)
		}
		if s[0] != s[1] && s[1] != s[2] {
			distinct++
		}
		if s[0] > s[1] || s[1] > s[2] {
			t.Fatalf("sample %v is not in row order", s)
		}
	}
	p := 6 * (.1*.2*.3 + .1*.2*.4 + .1*.3*.4 + .2*.3*.4)
	checkFreq(t, "all distinct", float64(distinct)/trials, p, 0.015)
	// More draws than rows.
	_, samples = drawMany(t, weights[:2], 5, true, 1)
	if len(samples[0]) != 5 {
		t.Errorf("5 draws of 2 rows gave %v", samples[0])
	}
}
