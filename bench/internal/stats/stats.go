// Package stats summarises repeated measurements: medians of runs and
// percentiles of latency samples.
package stats

import (
	"math"
	"sort"
	"time"
)

// Median of xs (the mean of the two middle values for an even count); NaN
// when empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// MinMax of xs.
func MinMax(xs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// Percentile p (0..100) of ds by the nearest-rank method; 0 when empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}

// Paired applies f to side a's and side b's runs of each round that has a
// usable run of both (key gives a run's round and side, and whether it
// counts), for the per-round ratios the reports take medians of. The order
// of the results is not meaningful.
func Paired[R any](runs []R, key func(R) (round int, side string, ok bool), a, b string, f func(x, y R) float64) []float64 {
	byRound := map[int]map[string]R{}
	for _, run := range runs {
		round, side, ok := key(run)
		if !ok {
			continue
		}
		if byRound[round] == nil {
			byRound[round] = map[string]R{}
		}
		byRound[round][side] = run
	}
	var out []float64
	for _, m := range byRound {
		x, okx := m[a]
		y, oky := m[b]
		if okx && oky {
			out = append(out, f(x, y))
		}
	}
	return out
}
