package revoked_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/postgres"
	"github.com/kassa-dev/kassa/services/user/revoked"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func create(t *testing.T, s *postgres.Store, name string) user.User {
	t.Helper()
	u, _, err := s.CreatePending(context.Background(), user.User{Username: name, Email: name + "@example.com"}, "")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func get(t *testing.T, h http.Handler, method string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(revoked.Path, h)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(method, revoked.Path, nil))
	return rec
}

func TestHandler_ListsRecentlyDeletedUsersOnly(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t, postgres.Migrations)
	s := postgres.New(db)
	window := revoked.Window(15 * time.Minute)
	live := create(t, s, "live")
	gone := create(t, s, "gone")
	longGone := create(t, s, "longgone")
	deleted, err := s.SoftDelete(ctx, gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SoftDelete(ctx, longGone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE users SET delete_time = now() - make_interval(secs => $1) WHERE id = $2`,
		(window + time.Minute).Seconds(), longGone.ID); err != nil {
		t.Fatal(err)
	}

	rec := get(t, revoked.Handler(s, window, quiet), http.MethodGet)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "max-age=1" {
		t.Fatalf("GET = %d, Content-Type %q, Cache-Control %q; want 200 application/json max-age=1",
			rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"))
	}
	var doc struct {
		Subjects []struct {
			Sub       string `json:"sub"`
			RevokedAt string `json:"revokedAt"`
		} `json:"subjects"`
		Window string `json:"window"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if w, err := time.ParseDuration(doc.Window); err != nil || w != 16*time.Minute {
		t.Errorf("window = %q; want 16m0s (access TTL + 1m)", doc.Window)
	}
	listed := map[string]string{}
	for _, sub := range doc.Subjects {
		listed[sub.Sub] = sub.RevokedAt
	}
	tests := []struct {
		name   string
		id     string
		listed bool
	}{
		{"deleted within the window", gone.ID, true},
		{"live", live.ID, false},
		{"deleted before the window", longGone.ID, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, ok := listed[tt.id]
			if ok != tt.listed {
				t.Fatalf("%s listed = %v; want %v (body %s)", tt.id, ok, tt.listed, rec.Body)
			}
			if !ok {
				return
			}
			got, err := time.Parse(time.RFC3339, at)
			if err != nil || !got.Equal(deleted.DeleteTime) {
				t.Errorf("revokedAt = %q (%v); want the delete time %v", at, err, deleted.DeleteTime)
			}
		})
	}
	if len(doc.Subjects) != 1 {
		t.Errorf("subjects = %s; want exactly the one recent deletion", rec.Body)
	}
}

func TestHandler_NoDeletions_EmptyArray(t *testing.T) {
	s := postgres.New(pgtest.NewDB(t, postgres.Migrations))
	create(t, s, "live")
	rec := get(t, revoked.Handler(s, time.Minute, quiet), http.MethodGet)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != http.StatusOK || string(doc["subjects"]) != "[]" {
		t.Fatalf("GET = %d %s, %v; want 200 with subjects [] (not null)", rec.Code, rec.Body, err)
	}
}

type failing struct{}

func (failing) DeletedWithin(context.Context, time.Duration) ([]user.Deletion, error) {
	return nil, errors.New("connection refused")
}

func TestHandler_StoreFails_503NotAnEmptyList(t *testing.T) {
	rec := get(t, revoked.Handler(failing{}, time.Minute, quiet), http.MethodGet)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET with a failing store = %d %s; want 503, so verifiers keep their last list", rec.Code, rec.Body)
	}
}

func TestHandler_Post_MethodNotAllowed(t *testing.T) {
	rec := get(t, revoked.Handler(failing{}, time.Minute, quiet), http.MethodPost)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST = %d, Allow %q; want 405 GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
}
