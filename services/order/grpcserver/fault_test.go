package grpcserver_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// faultyStore is the real store with a lost database connection injected
// into one of its steps while the fault is on.
type faultyStore struct {
	*postgres.Store
	createFails, recordFails atomic.Bool
}

// Create loses the connection before the insert reached the server.
func (f *faultyStore) Create(ctx context.Context, o order.Order, grace time.Duration) (order.Order, bool, error) {
	if f.createFails.Load() {
		return order.Order{}, false, fmt.Errorf("insert order: %w", driver.ErrBadConn)
	}
	return f.Store.Create(ctx, o, grace)
}

func (f *faultyStore) RecordOutcome(ctx context.Context, o order.Order, out order.Outcome, l order.Letter, d time.Duration) (order.Order, bool, error) {
	if f.recordFails.Load() {
		return order.Order{}, false, fmt.Errorf("record payment outcome: %w", driver.ErrBadConn)
	}
	return f.Store.RecordOutcome(ctx, o, out, l, d)
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// A fault after the order was recorded answers UNAVAILABLE naming the
// order and the key to retry with; before, UNAVAILABLE without an order.
// Never INTERNAL, and a retry with the key finishes the order with one
// debit.
func TestCreateOrder_FaultsAnswerUnavailableWithWhatToRetry(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		fault   func(e *env, fs *faultyStore, on bool)
		orderID bool   // the message names the order
		retry   string // the message says how to retry
		reason  string
	}{
		{"database lost after the insert", "k",
			func(_ *env, fs *faultyStore, on bool) { fs.recordFails.Store(on) },
			true, "retry with the same request_id", app.ReasonNotFinished},
		{"database lost after the insert, no key", "",
			func(_ *env, fs *faultyStore, on bool) { fs.recordFails.Store(on) },
			true, `retry with request_id "`, app.ReasonNotFinished},
		{"billing down after the insert", "k",
			func(e *env, _ *faultyStore, on bool) { e.billing.SetDown(on) },
			true, "retry with the same request_id", app.ReasonNotFinished},
		{"database lost before the insert", "k",
			func(_ *env, fs *faultyStore, on bool) { fs.createFails.Store(on) },
			false, "retry with the same request_id", "DATABASE_UNAVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs *faultyStore
			e := newEnv(t, withStore(func(s *postgres.Store) app.Store { fs = &faultyStore{Store: s}; return fs }))
			user := e.buyer(t, 1000)
			tt.fault(e, fs, true)
			_, err := e.create(t, user, 300, tt.key)
			msg := status.Convert(err).Message()
			if status.Code(err) != codes.Unavailable || grpcstatus.ReasonOf(err) != tt.reason || !strings.Contains(msg, tt.retry) {
				t.Fatalf("err = %v (reason %q), want Unavailable %s saying %q", err, grpcstatus.ReasonOf(err), tt.reason, tt.retry)
			}
			if strings.Contains(msg, "bad connection") || strings.Contains(msg, "fake") {
				t.Errorf("message %q leaks the cause", msg)
			}
			key := tt.key
			if key == "" { // the server's key, named in the message
				key = strings.Split(strings.SplitAfter(msg, `request_id "`)[1], `"`)[0]
			}
			ids := uuidRE.FindAllString(strings.ReplaceAll(msg, key, ""), -1)
			if tt.orderID {
				stored := e.onlyOrder(t, user)
				if len(ids) != 1 || ids[0] != stored.GetId() || stored.GetStatus() != orderv1.Order_STATUS_PENDING {
					t.Fatalf("message %q names %v; want the pending order %s", msg, ids, stored.GetId())
				}
			} else if len(ids) != 0 || e.rows(t) != 0 {
				t.Fatalf("message %q names %v with %d orders stored; want no order", msg, ids, e.rows(t))
			}

			tt.fault(e, fs, false)
			o := e.mustCreate(t, user, 300, key)
			if o.GetStatus() != orderv1.Order_STATUS_PAID || e.billing.DebitsFor(o.GetId()) != 1 || e.billing.Balance(user) != 700 {
				t.Errorf("retry = %v with %d debits, balance %d; want PAID, one debit, 700", o.GetStatus(), e.billing.DebitsFor(o.GetId()), e.billing.Balance(user))
			}
			if e.rows(t) != 1 || len(e.letters.LettersFor(o.GetId())) != 1 {
				t.Errorf("orders %d, letters %d; want 1 and 1", e.rows(t), len(e.letters.LettersFor(o.GetId())))
			}
		})
	}
}
