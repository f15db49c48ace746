package target

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// gateway imitates the REST gateway's answers.
func gateway(t *testing.T) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json":
			w.WriteHeader(http.StatusBadRequest)
		case r.Header.Get("Authorization") != "Bearer tok-u1":
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":16,"message":"missing or invalid access token","details":[]}`)
		case r.URL.Path == "/v1/users/u1/orders":
			var in struct{ Price string }
			if err := json.Unmarshal(body, &in); err != nil || r.Header.Get("Idempotency-Key") != "k1" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			st := "STATUS_PAID"
			if in.Price == "999" {
				st = "STATUS_REJECTED"
			}
			io.WriteString(w, `{"id":"o1","userId":"u1","price":"`+in.Price+`","status":"`+st+`"}`)
		case r.URL.Path == "/v1/users/u1/account:deposit":
			var in struct{ Amount, RequestID string }
			if err := json.Unmarshal(body, &in); err != nil || in.Amount != "500" || in.RequestID != "d1" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			io.WriteString(w, `{"account":{"balance":"500"}}`)
		case r.URL.Path == "/v1/users/gone/orders":
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"code":14,"message":"order service did not answer","details":[]}`)
		case r.URL.Path == "/v1/users/slow/orders":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second): // longer than the client's deadline
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `not json`)
		}
	}))
}

func TestRESTAnswers(t *testing.T) {
	srv := gateway(t)
	defer srv.Close()
	r := NewREST(srv.URL+"/", 4)
	defer r.Close()
	ctx := context.Background()
	u1 := User{ID: "u1", Token: "tok-u1"}
	user := func(id string) User { return User{ID: id, Token: "tok-u1"} }

	if a := r.Order(ctx, u1, 250, "k1"); a != (Answer{Status: Paid, OrderID: "o1"}) {
		t.Errorf("paid order: %+v", a)
	}
	if a := r.Order(ctx, u1, 999, "k1"); a.Status != Rejected || a.Code != "" {
		t.Errorf("rejected order: %+v", a)
	}
	if a := r.Deposit(ctx, u1, 500, "d1"); a.Code != "" {
		t.Errorf("deposit: %+v", a)
	}
	if a := r.Order(ctx, user("gone"), 1, "k1"); a.Code != "http 503 Unavailable" {
		t.Errorf("503 with a status body: code %q", a.Code)
	}
	if a := r.Order(ctx, user("nobody"), 1, "k1"); a.Code != "http 404" {
		t.Errorf("404 without a status body: code %q", a.Code)
	}
	if a := r.Deposit(ctx, User{ID: "u1"}, 500, "d1"); a.Code != "http 401 Unauthenticated" {
		t.Errorf("no token: code %q, want the gateway's 401", a.Code)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if a := r.Order(short, user("slow"), 1, "k1"); a.Code != "timeout" {
		t.Errorf("deadline: code %q, want timeout", a.Code)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	if a := NewREST(url, 1).Order(ctx, u1, 1, "k1"); a.Code != "connection refused" {
		t.Errorf("closed port: code %q", a.Code)
	}
}

func TestRESTStatusNames(t *testing.T) {
	for in, want := range map[string]string{"STATUS_PAID": Paid, "STATUS_REJECTED": Rejected, "STATUS_PENDING": Pending, "STATUS_NEW": "new"} {
		if got := restStatus(in); got != want {
			t.Errorf("restStatus(%q) = %q, want %q", in, got, want)
		}
	}
	if !strings.HasPrefix(grpcCode(context.DeadlineExceeded), "DeadlineExceeded") {
		t.Errorf("grpcCode(deadline) = %q", grpcCode(context.DeadlineExceeded))
	}
}
