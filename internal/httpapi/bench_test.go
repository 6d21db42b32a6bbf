package httpapi_test

import (
	"net/http"
	"testing"
)

// discardWriter is a ResponseWriter that keeps only the status, so a
// benchmark measures the handler chain and not a recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// BenchmarkWhoami times GET /v1/auth/whoami through the whole handler
// chain (middleware, authentication, the answer's JSON), without the
// network: the server's own share of the whoami scenarios of
// cmd/gatehouse-bench. go test -run '^$' -bench Whoami -benchmem ./internal/httpapi/
func BenchmarkWhoami(b *testing.B) {
	e := newEnv(b, onSQLite, nil)
	e.signup("bench@example.com")
	s := e.login("bench@example.com", goodPassword)
	for _, tc := range []struct{ name, token string }{
		{"access", s.access},
		{"session", s.token},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := http.NewRequest("GET", "/v1/auth/whoami", nil)
			if err != nil {
				b.Fatal(err)
			}
			r.RemoteAddr = "127.0.0.1:40000"
			r.Header.Set("Authorization", "Bearer "+tc.token)
			r.Header.Set("User-Agent", "gatehouse-bench")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.status, w.n = 0, 0
				e.g.Handler.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("whoami: status %d", w.status)
				}
			}
		})
	}
}
