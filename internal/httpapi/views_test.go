package httpapi

import (
	"encoding/json"
	"testing"
	"time"
)

// A stamp must read exactly as the time.Time it replaced: clients parse
// these strings, and API.md promises RFC 3339.
func TestStampWritesAsTimeDoes(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, tm := range []time.Time{
		time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 9, 30, 1, 123456789, time.UTC),
		time.Date(2026, 11, 25, 9, 30, 1, 120000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6, paris),
		{},
	} {
		want, err := json.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(stamp(tm))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("stamp(%v) = %s, time.Time gives %s", tm, got, want)
		}
		p := tm
		got, _ = json.Marshal(struct {
			A *stamp `json:"a"`
			B *stamp `json:"b"`
		}{stampOf(&p), stampOf(nil)})
		if string(got) != `{"a":`+string(want)+`,"b":null}` {
			t.Errorf("optional stamps of %v: %s", tm, got)
		}
	}
}
