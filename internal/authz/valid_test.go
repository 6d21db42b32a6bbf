package authz

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestHandMatchersAgreeWithTheRegexps: ValidAction and ValidResourceType
// match by hand what actionRE and typeRE say, on edge cases and on
// random strings over the characters that matter.
func TestHandMatchersAgreeWithTheRegexps(t *testing.T) {
	long := strings.Repeat("a", 63)
	cases := []string{"", "*", "**", "posts", "posts.update", "posts.*", "a.b.c.d", "a.b.c.d.e", "posts.", ".posts", "posts..x",
		"Posts.update", "1posts", "posts.Update", "posts.up date", "a-b_c.d-e_f*", long, long + "a", "a." + long, "a." + long + "a",
		"posts.update\n", "é", "a.é"}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "az09_-*.A é"
	for range 20000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := ValidAction(s), actionRE.MatchString(s); got != want {
			t.Fatalf("ValidAction(%q) = %v, actionRE says %v", s, got, want)
		}
		if got, want := ValidResourceType(s), typeRE.MatchString(s); got != want {
			t.Fatalf("ValidResourceType(%q) = %v, typeRE says %v", s, got, want)
		}
	}
}
