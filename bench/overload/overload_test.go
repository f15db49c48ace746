package overload

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/bench/target"
)

// The answers are sorted as a client must read them: a refusal is a shed
// only with Retry-After, and a 200 counts only when the order is paid.
func TestSender_SortsAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		label      string
		shedStatus string
	}{
		{"paid", http.StatusOK, "", `{"status":"STATUS_PAID"}`, LabelPaid, ""},
		{"rejected", http.StatusOK, "", `{"status":"STATUS_REJECTED"}`, "not paid: STATUS_REJECTED", ""},
		{"429 with Retry-After", http.StatusTooManyRequests, "1", `{"code":8}`, LabelShed, "429"},
		{"503 with Retry-After", http.StatusServiceUnavailable, "1", `{"code":14}`, LabelShed, "503"},
		{"429 without Retry-After", http.StatusTooManyRequests, "", `{"code":8}`, "shed without Retry-After", ""},
		{"500", http.StatusInternalServerError, "", `{"code":13}`, "http 500", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Idempotency-Key") != "k-1" || r.Header.Get("Authorization") != "Bearer tok" {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			s := NewSender(srv.URL, 4)
			defer s.Close()
			label, status := s.order(context.Background(), target.User{ID: "u", Token: "tok"}, 100, "k-1")
			if label != tt.label || status != tt.shedStatus {
				t.Errorf("got %q, %q; want %q, %q", label, status, tt.label, tt.shedStatus)
			}
		})
	}
}

// Run at a rate reports paid and shed answers apart, with their latencies.
func TestRun_CountsPaidAndShedApart(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n%2 == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{"status":"STATUS_PAID"}`))
	}))
	defer srv.Close()
	s := NewSender(srv.URL, 4)
	defer s.Close()
	// One client: the server's counter needs no lock.
	r := Run(context.Background(), Config{Rate: 100, Duration: time.Second, Timeout: time.Second, Clients: 1, Price: 1, Keys: "t"},
		s, []target.User{{ID: "a", Token: "x"}, {ID: "b", Token: "y"}})
	if r.Goodput < 30 || r.Shed < 30 {
		t.Errorf("goodput %.1f/s, shed %.1f/s; want about 50 each", r.Goodput, r.Shed)
	}
	if r.ShedStatus["http 429"] == 0 || len(r.Codes) != 0 {
		t.Errorf("shed by status %v, failures %v", r.ShedStatus, r.Codes)
	}
	if len(r.keys) == 0 || r.keys["t-0"].label != LabelPaid || r.keys["t-1"].label != LabelShed {
		t.Errorf("keys not recorded by answer: %v", r.keys["t-0"])
	}
}
