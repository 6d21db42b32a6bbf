package password

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPolicyCheck(t *testing.T) {
	def := DefaultPolicy()
	tests := []struct {
		name     string
		policy   Policy
		password string
		inputs   []string
		want     string // Reason; "" means accepted
	}{
		{"good", def, "correct horse battery staple", nil, ""},
		{"fixture password is fine", def, "Sample!kdew", nil, ""},
		{"fixture password contains its email", def, "Sample!kdew", []string{"sample@sample.com"}, "password must not contain the email address"},
		{"empty", def, "", nil, "password must be at least 8 characters"},
		{"seven", def, "abcdefg", nil, "password must be at least 8 characters"},
		{"runes not bytes", def, "ééééééé", nil, "password must be at least 8 characters"},
		{"eight runes", def, "ééééééxy", nil, ""},
		{"max runes", def, strings.Repeat("ab", 64), nil, ""},
		{"too many runes", def, strings.Repeat("a", 129), nil, "password must be at most 128 characters"},
		{"four-byte runes count once", Policy{MinLength: 8, MaxLength: 10}, strings.Repeat("😀", 10), nil, ""},
		{"huge input", def, strings.Repeat("a", 1<<20), nil, "password must be at most 128 characters"},
		{"invalid utf-8", def, "abcdefgh\xff", nil, "password must be valid UTF-8 text"},
		{"zero value means defaults", Policy{}, "short", nil, "password must be at least 8 characters"},
		{"custom min", Policy{MinLength: 12}, "abcdefghijk", nil, "password must be at least 12 characters"},
		{"common", def, "password", nil, "password is too common"},
		{"common any case", def, "PassWord1", nil, "password is too common"},
		{"common secret123", def, "secret123", nil, "password is too common"},
		{"common iloveyou", def, "ILoveYou", nil, "password is too common"},
		{"common 12345678", def, "12345678", nil, "password is too common"},
		{"common qwerty123", def, "qwerty123", nil, "password is too common"},
		{"common with spaces", def, "  letmein1  ", nil, "password is too common"},
		{"email local part", def, "xXrajat.verma99", []string{"rajat.verma@example.com"}, "password must not contain the email address"},
		{"email word", def, "verma-is-great", []string{"rajat.verma@example.com"}, "password must not contain the email address"},
		{"email case", def, "ALICE-in-chains", []string{" Alice@Test.com "}, "password must not contain the email address"},
		{"email domain is not personal", def, "example-rocks-7", []string{"rajat.verma@example.com"}, ""},
		{"short local part ignored", def, "bob-the-builder", []string{"bob@mail.com"}, ""},
		{"name", def, "JohnSmith2024!", []string{"john@example.com", "John Smith"}, "password must not contain the email address"},
		{"name word", def, "smith-forever-9", []string{"jd@example.com", "John Smith"}, "password must not contain your name"},
		{"short name ignored", def, "bo-and-friends", []string{"Bo"}, ""},
		{"empty input ignored", def, "good password here", []string{"", "   "}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.password, tt.inputs...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("Check = %v (%T), want *PolicyError", err, err)
			}
			if pe.Reason != tt.want || err.Error() != tt.want {
				t.Fatalf("Check = %q, want %q", pe.Reason, tt.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		p    Policy
		want string
	}{
		{DefaultPolicy(), ""},
		{Policy{}, ""},
		{Policy{MinLength: 15, MaxLength: 64}, ""},
		{Policy{MinLength: 6}, "min length 6 is below 8"},
		{Policy{MinLength: 20, MaxLength: 10}, "max length 10 is below min length 20"},
		{Policy{MaxLength: 5000}, "max length 5000 is above 1024"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v.Validate() = %v, want %q", tt.p, err, tt.want)
		}
	}
}

// TestCommonPasswordList keeps the embedded list in the shape isCommon
// relies on: lowercase, trimmed, unique, sorted, one per line.
func TestCommonPasswordList(t *testing.T) {
	if !strings.HasSuffix(commonPasswords, "\n") || strings.Contains(commonPasswords, "\r") {
		t.Fatal("list must be LF-terminated lines")
	}
	lines := strings.Split(strings.TrimSuffix(commonPasswords, "\n"), "\n")
	long := 0
	for i, l := range lines {
		switch {
		case l == "" || l != strings.TrimSpace(l):
			t.Fatalf("line %d: empty or padded %q", i+1, l)
		case l != strings.ToLower(l):
			t.Fatalf("line %d: not lowercase %q", i+1, l)
		case !utf8.ValidString(l):
			t.Fatalf("line %d: invalid UTF-8", i+1)
		case i > 0 && l <= lines[i-1]:
			t.Fatalf("line %d: %q not sorted or duplicated after %q", i+1, l, lines[i-1])
		}
		if utf8.RuneCountInString(l) >= DefaultMinLength {
			long++
		}
	}
	if len(lines) < 1000 || long < 1000 {
		t.Fatalf("list has %d entries, %d of at least %d characters; want 1000 of those", len(lines), long, DefaultMinLength)
	}
	for _, must := range []string{"123456", "password", "qwerty", "secret123", "iloveyou", "letmein", "password1", "12345678"} {
		if !isCommon(must) {
			t.Errorf("%q missing from the list", must)
		}
	}
	if isCommon("") || isCommon("correct horse battery staple") {
		t.Error("isCommon matches what is not on the list")
	}
}

func TestIsCommonMatchesWholeLinesOnly(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(commonPasswords, "\n"), "\n")
	first, last := lines[0], lines[len(lines)-1]
	for _, w := range append(lines, "password") {
		if !isCommon(w) {
			t.Errorf("isCommon(%q) = false", w)
		}
	}
	for _, w := range []string{"passwor", "assword", "password\n", "\npassword", first + "\n" + lines[1], "x" + last, last + "z", "", "\n"} {
		if isCommon(w) {
			t.Errorf("isCommon(%q) = true", w)
		}
	}
}
