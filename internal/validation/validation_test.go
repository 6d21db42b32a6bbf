package validation

import (
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, norm string
		ok       bool
	}{
		{"  John@Example.COM ", "john@example.com", true},
		{"rajat.verma@example.com", "rajat.verma@example.com", true},
		{"", "", false},
		{"no-at-sign", "", false},
		{"a@b", "", false},
		{"a@@b.com", "", false},
		{"Bob <bob@mail.com>", "", false},
		{"a b@mail.com", "", false},
		{strings.Repeat("a", 250) + "@x.com", "", false},
		{"\xff@mail.com", "", false},
	}
	for _, tt := range tests {
		_, norm, problem := NormalizeEmail(tt.in)
		if (problem == "") != tt.ok || norm != tt.norm {
			t.Errorf("NormalizeEmail(%q) = %q, %q; want ok=%v norm=%q", tt.in, norm, problem, tt.ok, tt.norm)
		}
	}
}

func TestText(t *testing.T) {
	if v, p := Text("  Ada Lovelace ", 10); v != "" || p == "" {
		t.Errorf("over-long accepted: %q %q", v, p)
	}
	if v, p := Text(" Ada ", 10); v != "Ada" || p != "" {
		t.Errorf("got %q %q", v, p)
	}
	if _, p := Text("a\x00b", 10); p == "" {
		t.Error("NUL accepted")
	}
	var e Errors
	if e.Err() != nil {
		t.Error("empty Errors is an error")
	}
	e.Add("email", "is required")
	if e.Err() == nil || !strings.Contains(e.Error(), "email: is required") {
		t.Errorf("Error() = %q", e.Error())
	}
}
