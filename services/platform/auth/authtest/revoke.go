package authtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// RevocationList serves a revocation list as the user service does, at
// URL, with subjects a test adds and a failure mode it can switch on.
type RevocationList struct {
	URL string

	mu       sync.Mutex
	subjects []string
	broken   string // "": serve the list; else how to fail (see Break)
	requests int
}

// NewRevocationList starts an empty list; it stops with the test.
func NewRevocationList(t testing.TB) *RevocationList {
	t.Helper()
	l := &RevocationList{}
	srv := httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(srv.Close)
	l.URL = srv.URL + "/.well-known/revoked-subjects.json"
	return l
}

func (l *RevocationList) serve(w http.ResponseWriter, _ *http.Request) {
	l.mu.Lock()
	l.requests++
	broken, subjects := l.broken, append([]string(nil), l.subjects...)
	l.mu.Unlock()
	switch broken {
	case "status":
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"subjects":`))
		return
	}
	type entry struct {
		Sub       string `json:"sub"`
		RevokedAt string `json:"revokedAt"`
	}
	doc := struct {
		Subjects []entry `json:"subjects"`
		Window   string  `json:"window"`
	}{Subjects: []entry{}, Window: "16m0s"}
	for _, s := range subjects {
		doc.Subjects = append(doc.Subjects, entry{s, time.Now().UTC().Format(time.RFC3339)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=1")
	_ = json.NewEncoder(w).Encode(doc)
}

// Revoke lists sub from the next request on.
func (l *RevocationList) Revoke(sub string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subjects = append(l.subjects, sub)
}

// Break makes the list fail: how is "status" (503) or "garbage" (a cut
// JSON document); "" serves it again.
func (l *RevocationList) Break(how string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broken = how
}

// Requests is how many times the list was fetched.
func (l *RevocationList) Requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests
}
