// Package ratelimit owns request and failure limits (R1, R2). Limiter is the
// interface the HTTP layer uses; Memory is the in-process implementation
// for a single replica (token buckets from golang.org/x/time/rate). A Redis
// implementation shared by replicas plugs in behind the same interface.
package ratelimit
