package main

import (
	"slices"
	"time"
)

// Summary describes a set of request latencies.
type Summary struct {
	Count int
	Min   time.Duration
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order: the smallest value such that at
// least p percent of the values are less than or equal to it. It returns 0
// for an empty slice; p <= 0 gives the minimum and p >= 100 the maximum.
//
// Nearest rank never interpolates, so every figure it reports is a latency
// some request actually had.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case p <= 0:
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	// p*n is computed before the division so that whole-number products
	// (99*100, 50*7) stay exact in floating point.
	rank := int(p * float64(n) / 100)
	if float64(rank)*100 < p*float64(n) {
		rank++ // ceil
	}
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Summarize sorts d in place and returns its summary. An empty d gives the
// zero Summary.
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Summary{
		Count: len(d),
		Min:   d[0],
		Mean:  sum / time.Duration(len(d)),
		P50:   Percentile(d, 50),
		P90:   Percentile(d, 90),
		P99:   Percentile(d, 99),
		Max:   d[len(d)-1],
	}
}

// Rate is n events per elapsed wall time, in events per second; 0 when no
// time elapsed.
func Rate(n int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}
