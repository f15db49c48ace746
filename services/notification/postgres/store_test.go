package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/kassa-dev/kassa/services/notification"
	"github.com/kassa-dev/kassa/services/notification/postgres"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newStore(t *testing.T) *postgres.Store {
	t.Helper()
	return postgres.New(pgtest.NewDB(t, postgres.Migrations))
}

func letter(userID, requestID string) notification.Notification {
	return notification.Notification{
		UserID: userID, Email: "ada@example.com", Subject: "Your order", Body: "It shipped.",
		RequestID: requestID,
	}
}

func TestSend_StoresLetterWithOptionalColumns(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	user, order := uuid.NewString(), uuid.NewString()
	in := letter(user, "")
	in.OrderID = order
	got, created, err := s.Send(ctx, in)
	if err != nil || !created {
		t.Fatalf("Send = %v, created %v", err, created)
	}
	if got.ID == "" || got.CreateTime.IsZero() || got.OrderID != order || got.RequestID != "" || !got.SameLetter(in) {
		t.Fatalf("stored %+v", got)
	}
	again, err := s.Get(ctx, user, got.ID)
	if err != nil || again != got {
		t.Fatalf("Get = %+v, %v; want %+v", again, err, got)
	}
}

func TestSend_WithoutRequestID_StoresEveryCall(t *testing.T) {
	s := newStore(t)
	user := uuid.NewString()
	a, _, err1 := s.Send(context.Background(), letter(user, ""))
	b, _, err2 := s.Send(context.Background(), letter(user, ""))
	if err1 != nil || err2 != nil || a.ID == b.ID {
		t.Fatalf("ids %s %s, errors %v %v", a.ID, b.ID, err1, err2)
	}
}

func TestSend_SameRequestID_ReturnsFirstLetter(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	first, _, err := s.Send(ctx, letter(user, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	other := letter(user, "k1")
	other.Body = "something else"
	got, created, err := s.Send(ctx, other)
	if err != nil || created || got != first {
		t.Fatalf("second Send = %+v, created %v, %v; want the first letter", got, created, err)
	}
}

func TestSend_RequestIDIsScopedPerUser(t *testing.T) {
	s := newStore(t)
	a, _, err1 := s.Send(context.Background(), letter(uuid.NewString(), "k1"))
	b, created, err2 := s.Send(context.Background(), letter(uuid.NewString(), "k1"))
	if err1 != nil || err2 != nil || !created || a.ID == b.ID {
		t.Fatalf("second user's letter: created %v, ids %s %s, errors %v %v", created, a.ID, b.ID, err1, err2)
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

func TestSend_ConcurrentDuplicates_StoreOnce(t *testing.T) {
	const n = 16
	db := pgtest.NewDB(t, postgres.Migrations)
	warmPool(t, db, n)
	s := postgres.New(db)
	user := uuid.NewString()
	start := make(chan struct{})
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			got, _, err := s.Send(context.Background(), letter(user, "same"))
			ids[i], errs[i] = got.ID, err
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: id %s err %v, want id %s", i, ids[i], errs[i], ids[0])
		}
	}
	list, err := s.List(context.Background(), user, paging.Cursor{}, 100)
	if err != nil || len(list) != 1 {
		t.Fatalf("stored %d letters (%v), want 1", len(list), err)
	}
}

func TestGet_OtherUsersLetter_NotFound(t *testing.T) {
	s := newStore(t)
	n, _, err := s.Send(context.Background(), letter(uuid.NewString(), ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), uuid.NewString(), n.ID); !errors.Is(err, notification.ErrNotFound) {
		t.Fatalf("Get by another user = %v, want ErrNotFound", err)
	}
}

func TestList_NewestFirstAfterCursor(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	user := uuid.NewString()
	var sent []notification.Notification
	for range 5 {
		n, _, err := s.Send(ctx, letter(user, ""))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, n)
	}
	if _, _, err := s.Send(ctx, letter(uuid.NewString(), "")); err != nil { // someone else's
		t.Fatal(err)
	}
	all, err := s.List(ctx, user, paging.Cursor{}, 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("List = %d letters, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		prev, cur := all[i-1], all[i]
		if cur.CreateTime.After(prev.CreateTime) || (cur.CreateTime.Equal(prev.CreateTime) && cur.ID > prev.ID) {
			t.Fatalf("not newest first at %d: %+v after %+v", i, cur, prev)
		}
	}
	rest, err := s.List(ctx, user, paging.Cursor{Time: all[1].CreateTime, ID: all[1].ID}, 100)
	if err != nil || len(rest) != 3 || rest[0].ID != all[2].ID {
		t.Fatalf("List after the second = %+v, %v", rest, err)
	}
}

func TestSchema_RejectsWhatValidationRejects(t *testing.T) {
	s := newStore(t)
	bad := letter(uuid.NewString(), "")
	bad.Subject = ""
	if _, _, err := s.Send(context.Background(), bad); err == nil {
		t.Fatal("empty subject stored; want a CHECK violation")
	}
}

func orderLetter(userID, orderID string) notification.Notification {
	n := letter(userID, "order/"+orderID+"/letter")
	n.OrderID = orderID
	n.Body = "Your order is paid."
	return n
}

// A key in one namespace never finds a letter of the other: a client letter
// under an order's key and the order's letter are two letters, and retries
// in each namespace find their own.
func TestSend_OrderAndClientKeys_AreSeparateNamespaces(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	user, order := uuid.NewString(), uuid.NewString()
	forged := letter(user, "order/"+order+"/letter")
	forged.Body = "Your order failed, pay again at evil.example."
	client, created, err := s.Send(ctx, forged)
	if err != nil || !created || client.OrderID != "" {
		t.Fatalf("client letter: %+v, created %v, %v", client, created, err)
	}
	real, created, err := s.Send(ctx, orderLetter(user, order))
	if err != nil || !created || real.ID == client.ID || real.Body != "Your order is paid." {
		t.Fatalf("order letter: %+v, created %v, %v; want a letter of its own", real, created, err)
	}
	tests := []struct {
		name string
		in   notification.Notification
		want notification.Notification
	}{
		{"retry of the order letter", orderLetter(user, order), real},
		{"retry of the client letter", forged, client},
		{"order key from another recipient", orderLetter(uuid.NewString(), order), real},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, created, err := s.Send(ctx, tt.in)
			if err != nil || created || got != tt.want {
				t.Fatalf("Send = %+v, created %v, %v; want the stored %+v", got, created, err, tt.want)
			}
		})
	}
	list, err := s.List(ctx, user, paging.Cursor{}, 100)
	if err != nil || len(list) != 2 {
		t.Fatalf("listed %d letters, %v; want 2", len(list), err)
	}
}

// The same key on two orders is two letters: the order namespace is keyed
// by the order, not by the key alone.
func TestSend_SameKeyOnTwoOrders_StoresBoth(t *testing.T) {
	s := newStore(t)
	user := uuid.NewString()
	a := orderLetter(user, uuid.NewString())
	b := orderLetter(user, uuid.NewString())
	b.RequestID = a.RequestID
	x, _, err1 := s.Send(context.Background(), a)
	y, created, err2 := s.Send(context.Background(), b)
	if err1 != nil || err2 != nil || !created || x.ID == y.ID {
		t.Fatalf("second order's letter: created %v, ids %s %s, errors %v %v", created, x.ID, y.ID, err1, err2)
	}
}
