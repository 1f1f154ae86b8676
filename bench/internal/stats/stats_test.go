package stats

import (
	"slices"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("Median odd = %v", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median even = %v", got)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 10; i++ {
		ds = append(ds, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {100, 10}, {0, 1}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestPaired(t *testing.T) {
	type run struct {
		round int
		side  string
		rate  float64
	}
	runs := []run{{1, "a", 10}, {1, "b", 20}, {2, "a", 10}, {2, "b", 0}, {3, "b", 30}, {4, "b", 40}, {4, "a", 20}}
	got := Paired(runs, func(r run) (int, string, bool) { return r.round, r.side, r.rate > 0 }, "a", "b",
		func(x, y run) float64 { return y.rate / x.rate })
	slices.Sort(got)
	if want := []float64{2, 2}; !slices.Equal(got, want) {
		t.Fatalf("Paired = %v, want %v (rounds 1 and 4 only)", got, want)
	}
}
