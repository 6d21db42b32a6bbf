package token

import (
	"errors"
	"testing"
	"time"
)

func TestCachedVerifier(t *testing.T) {
	e := newEnv(t, "RS256")
	cv := NewCachedVerifier(NewVerifier(e.keys, testIssuer, testAudience, nil, -1, e.clk.Now), 2, e.clk.Now)
	tok := e.issue(t, Claims{Subject: "u1", SessionID: "s1"})
	for i := 0; i < 3; i++ {
		c, err := cv.Verify(tok)
		if err != nil || c.Subject != "u1" || c.SessionID != "s1" {
			t.Fatalf("verify %d: %+v %v", i, c, err)
		}
	}
	if _, err := cv.Verify(tok[:len(tok)-2] + "xx"); err == nil {
		t.Fatal("tampered token accepted")
	}
	if _, err := cv.Verify("garbage"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("garbage: %v", err)
	}
	// Bounded: more tokens than Max empty the cache rather than grow it.
	for i := 0; i < 3; i++ {
		if _, err := cv.Verify(e.issue(t, Claims{SessionID: "s"})); err != nil {
			t.Fatal(err)
		}
	}
	if len(cv.m) > 2 {
		t.Fatalf("cache grew to %d", len(cv.m))
	}
	if _, err := cv.Verify(tok); err != nil {
		t.Fatal(err)
	}
	// Expiry applies to cached tokens too.
	e.clk.Add(DefaultTTL + time.Second)
	if _, err := cv.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired cached token: %v", err)
	}
}
