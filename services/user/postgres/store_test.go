package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newStore(t *testing.T) *postgres.Store {
	t.Helper()
	return postgres.New(pgtest.NewDB(t, postgres.Migrations))
}

func profile(name string) user.User {
	return user.User{Username: name, Email: name + "@example.com", FirstName: "F", LastName: "L"}
}

func mustCreate(t *testing.T, s *postgres.Store, u user.User, requestID string) user.User {
	t.Helper()
	got, created, err := s.CreatePending(context.Background(), u, requestID)
	if err != nil || !created {
		t.Fatalf("CreatePending(%s) = created %v, %v", u.Username, created, err)
	}
	return got
}

func wantAlreadyExists(t *testing.T, err error, msg string) {
	t.Helper()
	if apperr.KindOf(err) != apperr.KindAlreadyExists || err.Error() != msg {
		t.Fatalf("err = %v, want ALREADY_EXISTS %q", err, msg)
	}
}

func TestCreatePending_InsertsPendingUser(t *testing.T) {
	s := newStore(t)
	u := mustCreate(t, s, profile("ada"), "")
	if u.ID == "" || u.AccountReady || u.Deleted() || u.CreateTime.IsZero() || !u.SameProfile(profile("ada")) {
		t.Fatalf("created %+v", u)
	}
	got, err := s.Get(context.Background(), u.ID)
	if err != nil || got != u {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, u)
	}
}

func TestCreatePending_UsedRequestID_ReturnsFirstUser(t *testing.T) {
	s := newStore(t)
	first := mustCreate(t, s, profile("ada"), "r1")
	// Even with another profile: the caller compares and decides.
	got, created, err := s.CreatePending(context.Background(), profile("bob"), "r1")
	if err != nil || created || got != first {
		t.Fatalf("second CreatePending = %+v, created %v, %v; want %+v", got, created, err, first)
	}
}

// warmPool opens n connections at once and returns them to the pool idle,
// so concurrent callers start together instead of being staggered by
// connection setup.
func warmPool(t *testing.T, db *sqlx.DB, n int) {
	t.Helper()
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestCreatePending_ConcurrentSameRequestID_OneUser(t *testing.T) {
	const n = 16
	db := pgtest.NewDB(t, postgres.Migrations)
	warmPool(t, db, n)
	s := postgres.New(db)
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start // release all at once to make the race as tight as possible
			u, _, err := s.CreatePending(context.Background(), profile("ada"), "same")
			ids[i], errs[i] = u.ID, err
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: %q, %v; want user %q", i, ids[i], errs[i], ids[0])
		}
	}
}

func TestCreatePending_LiveUsernameOrEmailTaken(t *testing.T) {
	s := newStore(t)
	mustCreate(t, s, profile("ada"), "")
	sameName := profile("ada")
	sameName.Email = "other@example.com"
	_, _, err := s.CreatePending(context.Background(), sameName, "")
	wantAlreadyExists(t, err, `username "ada" is taken`)

	sameEmail := profile("bob")
	sameEmail.Email = "ADA@Example.com"
	_, _, err = s.CreatePending(context.Background(), sameEmail, "")
	wantAlreadyExists(t, err, `email "ADA@Example.com" is taken`)
}

func TestSoftDelete_FreesUsernameAndEmail(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	u := mustCreate(t, s, profile("ada"), "")
	deleted, err := s.SoftDelete(ctx, u.ID)
	if err != nil || !deleted.Deleted() {
		t.Fatalf("SoftDelete = %+v, %v", deleted, err)
	}
	if _, err := s.Get(ctx, u.ID); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("Get deleted = %v, want ErrNotFound", err)
	}
	if _, err := s.SoftDelete(ctx, u.ID); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("second SoftDelete = %v, want ErrNotFound", err)
	}
	again := mustCreate(t, s, profile("ada"), "")
	if again.ID == u.ID {
		t.Fatal("new user reuses the deleted user's id")
	}
}

func TestMarkAccountReady(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	u := mustCreate(t, s, profile("ada"), "")
	ready, err := s.MarkAccountReady(ctx, u.ID)
	if err != nil || !ready.AccountReady {
		t.Fatalf("MarkAccountReady = %+v, %v", ready, err)
	}
	gone := mustCreate(t, s, profile("bob"), "")
	if _, err := s.SoftDelete(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkAccountReady(ctx, gone.ID); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("MarkAccountReady of a deleted user = %v, want ErrNotFound", err)
	}
}

func TestListPending_OnlyLivePendingOldEnough(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	pending := mustCreate(t, s, profile("pending"), "")
	ready := mustCreate(t, s, profile("ready"), "")
	if _, err := s.MarkAccountReady(ctx, ready.ID); err != nil {
		t.Fatal(err)
	}
	deleted := mustCreate(t, s, profile("deleted"), "")
	if _, err := s.SoftDelete(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListPending(ctx, 0, 10)
	if err != nil || len(got) != 1 || got[0].ID != pending.ID {
		t.Fatalf("ListPending = %+v, %v; want only %s", got, err, pending.ID)
	}
	if young, err := s.ListPending(ctx, time.Hour, 10); err != nil || len(young) != 0 {
		t.Fatalf("ListPending(1h) = %+v, %v; want none", young, err)
	}
}

func TestUpdate(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	ada := mustCreate(t, s, profile("ada"), "")
	mustCreate(t, s, profile("bob"), "")
	phone := "+15551234567"
	got, err := s.Update(ctx, ada.ID, user.Patch{Phone: &phone})
	if err != nil || got.Phone != phone || got.Username != "ada" || got.UpdateTime.Before(ada.UpdateTime) {
		t.Fatalf("Update phone = %+v, %v", got, err)
	}
	bob := "bob"
	_, err = s.Update(ctx, ada.ID, user.Patch{Username: &bob})
	wantAlreadyExists(t, err, `username "bob" is taken`)
	bobMail := "Bob@example.com"
	_, err = s.Update(ctx, ada.ID, user.Patch{Email: &bobMail})
	wantAlreadyExists(t, err, `email "Bob@example.com" is taken`)
	// Changing the case of one's own email is no clash.
	own := "ADA@example.com"
	if got, err := s.Update(ctx, ada.ID, user.Patch{Email: &own}); err != nil || got.Email != own {
		t.Fatalf("Update own email case = %+v, %v", got, err)
	}
}

func TestList_OldestFirstWithoutDeleted(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"usr1", "usr2", "usr3", "usr4"} {
		ids = append(ids, mustCreate(t, s, profile(n), "").ID)
	}
	if _, err := s.SoftDelete(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	all, err := s.List(ctx, paging.Cursor{}, 10)
	if err != nil || len(all) != 3 || all[0].ID != ids[0] {
		t.Fatalf("List = %+v, %v", all, err)
	}
	rest, err := s.List(ctx, paging.Cursor{Time: all[0].CreateTime, ID: all[0].ID}, 10)
	if err != nil || len(rest) != 2 || rest[0].ID != all[1].ID || rest[1].ID != all[2].ID {
		t.Fatalf("List after first = %+v, %v", rest, err)
	}
}

func TestSchema_RejectsInvalidUsername(t *testing.T) {
	s := newStore(t)
	if _, _, err := s.CreatePending(context.Background(), profile("Bad Name"), ""); err == nil || apperr.KindOf(err) != 0 {
		t.Fatalf("CreatePending with invalid username = %v, want a CHECK violation", err)
	}
}
