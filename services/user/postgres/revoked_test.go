package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/user/postgres"
)

func TestDeletedWithin_ListsOnlyRecentDeletions(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t, postgres.Migrations)
	s := postgres.New(db)
	live := mustCreate(t, s, profile("live"), "")
	recent := mustCreate(t, s, profile("recent"), "")
	old := mustCreate(t, s, profile("old"), "")
	deleted, err := s.SoftDelete(ctx, recent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SoftDelete(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	// As if deleted before the window started: its tokens have expired.
	if _, err := db.ExecContext(ctx, `UPDATE users SET delete_time = now() - interval '17 minutes' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}

	got, err := s.DeletedWithin(ctx, 16*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].UserID != recent.ID || !got[0].Time.Equal(deleted.DeleteTime) {
		t.Fatalf("DeletedWithin(16m) = %+v; want only %s deleted at %v (not live %s, not old %s)",
			got, recent.ID, deleted.DeleteTime, live.ID, old.ID)
	}
	wider, err := s.DeletedWithin(ctx, 20*time.Minute)
	if err != nil || len(wider) != 2 || wider[0].UserID != old.ID || wider[1].UserID != recent.ID {
		t.Fatalf("DeletedWithin(20m) = %+v, %v; want old then recent", wider, err)
	}
}

func TestDeletedWithin_NonPositiveWindow_Refused(t *testing.T) {
	s := newStore(t)
	for _, w := range []time.Duration{0, -time.Minute} {
		if got, err := s.DeletedWithin(context.Background(), w); err == nil {
			t.Errorf("DeletedWithin(%v) = %v, nil; want an error", w, got)
		}
	}
}
