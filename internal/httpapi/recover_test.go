package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// TestPanicIsA500WithoutDetails (L12): a handler that panics answers 500
// internal with nothing of the cause, and the cause is logged with the
// request id the client got; a panic after the answer started changes
// nothing the client sees; http.ErrAbortHandler is left to net/http.
func TestPanicIsA500WithoutDetails(t *testing.T) {
	var logs bytes.Buffer // the recorder serves on this goroutine
	s := New(Deps{Config: config.Default(), Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	const cause = "boom: dsn postgres://gatehouse:hunter2@db/prod"

	rec := httptest.NewRecorder()
	s.outer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(cause) })).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/anything", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("panic answered %d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p["code"] != "internal" || p["status"] != 500.0 {
		t.Fatalf("panic answered %s (%v), want the internal problem", rec.Body, err)
	}
	if strings.Contains(rec.Body.String(), "boom") || strings.Contains(rec.Body.String(), "hunter2") {
		t.Fatalf("the answer tells the cause: %s", rec.Body)
	}
	id := rec.Header().Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id on the 500")
	}
	var logged bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := entry["panic"].(string); entry["msg"] == "panic" && entry["request_id"] == id && strings.Contains(msg, "boom") && entry["stack"] != "" {
			logged = true
		}
	}
	if !logged {
		t.Fatalf("no panic record with request_id %s and the cause in the log:\n%s", id, logs.String())
	}

	// Started answers are not rewritten.
	rec = httptest.NewRecorder()
	s.outer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("partial"))
		panic(cause)
	})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/anything", nil))
	if rec.Code != http.StatusAccepted || rec.Body.String() != "partial" {
		t.Fatalf("a panic after the answer started changed it: %d %q", rec.Code, rec.Body)
	}

	// net/http's own abort stays an abort.
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("ErrAbortHandler was swallowed: recovered %v", v)
		}
	}()
	s.outer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	t.Fatal("ErrAbortHandler did not propagate")
}
