// Package redistest gives tests a client on the Redis named by
// GATEHOUSE_TEST_REDIS_URL and a key prefix of their own. Without that
// variable the test is skipped, unless GATEHOUSE_TEST_REQUIRE_SERVICES=1
// (set by .ci/run), in which case it fails: CI must never skip Redis.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the test server, e.g. redis://127.0.0.1:6379/0.
const EnvURL = "GATEHOUSE_TEST_REDIS_URL"

// Client returns a client and a unique key prefix; keys under the prefix
// are deleted when the test ends.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv("GATEHOUSE_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set but GATEHOUSE_TEST_REQUIRE_SERVICES=1: the Redis suite must run", EnvURL)
		}
		t.Skipf("Redis tests skipped: set %s (e.g. redis://127.0.0.1:6379/0)", EnvURL)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: bad %s: %v", EnvURL, err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: cannot reach Redis: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "ghtest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}
