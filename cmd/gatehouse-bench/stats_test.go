package main

import (
	"testing"
	"time"
)

// ms builds a slice of durations from milliseconds.
func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// oneTo returns 1..n milliseconds, ascending.
func oneTo(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", ms(7), 50, 7 * time.Millisecond},
		{"single p99", ms(7), 99, 7 * time.Millisecond},
		{"p0 is min", ms(1, 2, 3), 0, 1 * time.Millisecond},
		{"p100 is max", ms(1, 2, 3), 100, 3 * time.Millisecond},
		{"above 100 is max", ms(1, 2, 3), 150, 3 * time.Millisecond},
		{"p50 of 1..100", oneTo(100), 50, 50 * time.Millisecond},
		{"p99 of 1..100", oneTo(100), 99, 99 * time.Millisecond},
		{"p90 of 1..100", oneTo(100), 90, 90 * time.Millisecond},
		{"p99 of 1..1000", oneTo(1000), 99, 990 * time.Millisecond},
		{"p50 of two is lower", ms(10, 20), 50, 10 * time.Millisecond},
		{"p51 of two is upper", ms(10, 20), 51, 20 * time.Millisecond},
		{"p50 of odd count is middle", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p99 of ten is max", oneTo(10), 99, 10 * time.Millisecond},
		{"tiny p is min", oneTo(10), 0.01, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", ms(4), Summary{Count: 1, Min: 4 * time.Millisecond, Mean: 4 * time.Millisecond,
			P50: 4 * time.Millisecond, P90: 4 * time.Millisecond, P99: 4 * time.Millisecond, Max: 4 * time.Millisecond}},
		{"unsorted input", ms(9, 1, 5, 3, 7), Summary{Count: 5, Min: 1 * time.Millisecond, Mean: 5 * time.Millisecond,
			P50: 5 * time.Millisecond, P90: 9 * time.Millisecond, P99: 9 * time.Millisecond, Max: 9 * time.Millisecond}},
		{"1..100", oneTo(100), Summary{Count: 100, Min: 1 * time.Millisecond, Mean: 50500 * time.Microsecond,
			P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.in); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		elapsed time.Duration
		want    float64
	}{
		{"zero time", 10, 0, 0},
		{"negative time", 10, -time.Second, 0},
		{"per second", 500, 2 * time.Second, 250},
		{"sub-second", 3, 500 * time.Millisecond, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Rate(tt.n, tt.elapsed); got != tt.want {
				t.Errorf("Rate(%d, %v) = %v, want %v", tt.n, tt.elapsed, got, tt.want)
			}
		})
	}
}
