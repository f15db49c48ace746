package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/postgres"
)

func pendingIDs(t *testing.T, s *postgres.Store) []string {
	t.Helper()
	got, err := s.ListPending(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range got {
		ids = append(ids, p.ID)
	}
	return ids
}

func recordFailure(t *testing.T, s *postgres.Store, id string, attempts int, delay time.Duration, park bool) {
	t.Helper()
	ok, err := s.RecordRepairFailure(context.Background(), id, attempts, delay, park, "billing said no")
	if err != nil || !ok {
		t.Fatalf("RecordRepairFailure(%s, %d) = %v, %v; want recorded", id, attempts, ok, err)
	}
}

// A user that failed is due again only after its delay, and then behind a
// user that has been due longer, even one created after it.
func TestListPending_MostOverdueFirstAndNotBeforeDelay(t *testing.T) {
	s := newStore(t)
	older := mustCreate(t, s, profile("older"), "")
	newer := mustCreate(t, s, profile("newer"), "")
	if got := pendingIDs(t, s); len(got) != 2 || got[0] != older.ID {
		t.Fatalf("pending = %v, want older first while neither failed", got)
	}
	recordFailure(t, s, older.ID, 0, 0, false)
	got, err := s.ListPending(context.Background(), 0, 100)
	if err != nil || len(got) != 2 || got[0].ID != newer.ID || got[1].ID != older.ID || got[1].Attempts != 1 || got[0].Attempts != 0 {
		t.Fatalf("pending = %+v, %v; want newer (0 attempts) then older (1)", got, err)
	}
	recordFailure(t, s, older.ID, 1, time.Hour, false)
	if got := pendingIDs(t, s); len(got) != 1 || got[0] != newer.ID {
		t.Fatalf("pending = %v, want only newer while older waits out its delay", got)
	}
}

// The attempt count read by a pass guards the write: a second replica's
// failure of the same attempt, or a failure of a user finished, deleted or
// parked meanwhile, changes nothing.
func TestRecordRepairFailure_StaleOrSettledUser_NotRecorded(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	live := mustCreate(t, s, profile("live"), "")
	recordFailure(t, s, live.ID, 0, 0, false)
	ready := mustCreate(t, s, profile("ready"), "")
	if _, err := s.MarkAccountReady(ctx, ready.ID); err != nil {
		t.Fatal(err)
	}
	gone := mustCreate(t, s, profile("gone"), "")
	if _, err := s.SoftDelete(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	parked := mustCreate(t, s, profile("parked"), "")
	recordFailure(t, s, parked.ID, 0, 0, true)
	tests := []struct {
		name     string
		id       string
		attempts int
	}{
		{"same attempt twice", live.ID, 0},
		{"account ready", ready.ID, 0},
		{"deleted", gone.ID, 0},
		{"already parked", parked.ID, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.RecordRepairFailure(ctx, tt.id, tt.attempts, time.Hour, false, "late")
			if err != nil || ok {
				t.Fatalf("RecordRepairFailure = %v, %v; want not recorded", ok, err)
			}
		})
	}
	got, err := s.ListPending(ctx, 0, 100)
	if err != nil || len(got) != 1 || got[0].ID != live.ID || got[0].Attempts != 1 {
		t.Fatalf("pending = %+v, %v; want live with 1 attempt, still due", got, err)
	}
}

func TestParked_ListedNewestFirst_CountedAndReleased(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"park1", "park2", "park3"} {
		u := mustCreate(t, s, profile(n), "")
		recordFailure(t, s, u.ID, 0, 0, true)
		ids = append(ids, u.ID)
	}
	// A parked user that was then finished or deleted has nothing to retry.
	for i, settle := range []func(id string) error{
		func(id string) error { _, err := s.MarkAccountReady(ctx, id); return err },
		func(id string) error { _, err := s.SoftDelete(ctx, id); return err },
	} {
		u := mustCreate(t, s, profile([]string{"settled1", "settled2"}[i]), "")
		recordFailure(t, s, u.ID, 0, 0, true)
		if err := settle(u.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.CountParked(ctx); err != nil || n != 3 {
		t.Fatalf("CountParked = %d, %v; want 3", n, err)
	}
	if got := pendingIDs(t, s); len(got) != 0 {
		t.Fatalf("parked users still due: %v", got)
	}
	all, err := s.ListParked(ctx, paging.Cursor{}, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("ListParked = %+v, %v", all, err)
	}
	for i, p := range all {
		if p.Attempts != 1 || p.LastError != "billing said no" || p.ParkTime.IsZero() {
			t.Fatalf("parked %+v", p)
		}
		if i > 0 && (p.ParkTime.After(all[i-1].ParkTime) || (p.ParkTime.Equal(all[i-1].ParkTime) && p.UserID > all[i-1].UserID)) {
			t.Fatalf("not newest first at %d: %+v after %+v", i, p, all[i-1])
		}
	}
	rest, err := s.ListParked(ctx, paging.Cursor{Time: all[0].ParkTime, ID: all[0].UserID}, 10)
	if err != nil || len(rest) != 2 || rest[0] != all[1] || rest[1] != all[2] {
		t.Fatalf("ListParked after the first = %+v, %v", rest, err)
	}

	if n, err := s.ReleaseParked(ctx, []string{ids[0], ids[0]}); err != nil || n != 1 {
		t.Fatalf("ReleaseParked(one id twice) = %d, %v; want 1", n, err)
	}
	got, err := s.ListPending(ctx, 0, 100)
	if err != nil || len(got) != 1 || got[0].ID != ids[0] || got[0].Attempts != 0 {
		t.Fatalf("pending after release = %+v, %v; want the released user due with 0 attempts", got, err)
	}
	if n, err := s.ReleaseParked(ctx, nil); err != nil || n != 2 {
		t.Fatalf("ReleaseParked(all) = %d, %v; want the other 2", n, err)
	}
	if n, err := s.CountParked(ctx); err != nil || n != 0 {
		t.Fatalf("CountParked after release = %d, %v; want 0", n, err)
	}
	if n, err := s.ReleaseParked(ctx, nil); err != nil || n != 0 {
		t.Fatalf("ReleaseParked with none parked = %d, %v; want 0", n, err)
	}
}

// Whatever billing's error says, it is stored: bytes PostgreSQL refuses are
// dropped and a long message is cut to the column's limit.
func TestRecordRepairFailure_StoresAnyErrorText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"NUL byte", "bad\x00news", "badnews"},
		{"invalid UTF-8", "bad\xffnews", "bad\uFFFDnews"},
		{"too long", strings.Repeat("é", 1500), strings.Repeat("é", 997) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			u := mustCreate(t, s, profile("ada"), "")
			ok, err := s.RecordRepairFailure(context.Background(), u.ID, 0, 0, true, tt.in)
			if err != nil || !ok {
				t.Fatalf("RecordRepairFailure = %v, %v", ok, err)
			}
			got, err := s.ListParked(context.Background(), paging.Cursor{}, 10)
			if err != nil || len(got) != 1 || got[0].LastError != tt.want {
				t.Fatalf("stored %q (%d chars), %v; want %q", first(got).LastError, utf8.RuneCountInString(first(got).LastError), err, tt.want)
			}
		})
	}
}

func first(ps []user.Parked) user.Parked {
	if len(ps) == 0 {
		return user.Parked{}
	}
	return ps[0]
}
