package grpcserver_test

import (
	"context"
	"slices"
	"testing"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An admin listing the orders of a user that never existed gets
// USER_NOT_FOUND, as billing's ledger answers, not an empty list; a
// user whose account exists (also closed: a deleted user) has an empty
// list; with billing down the answer is UNAVAILABLE. The owner's own list
// never asks billing. Billing is asked as service:order.
func TestListOrders_UnknownUser_NotFoundForAdmins(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	live := e.buyer(t, 0)
	deleted := e.buyer(t, 0)
	e.billing.Close(deleted)
	owner := authtest.NewUserID() // a token but, in this fake, no account yet
	tests := []struct {
		name        string
		user        string
		asOwner     bool
		billingDown bool
		want        codes.Code
		wantReason  string
		wantLookups int
	}{
		{"never existed", authtest.NewUserID(), false, false, codes.NotFound, "USER_NOT_FOUND", 1},
		{"exists, no orders", live, false, false, codes.OK, "", 1},
		{"deleted: account closed", deleted, false, false, codes.OK, "", 1},
		{"billing down", live, false, true, codes.Unavailable, "", 1},
		{"the owner asks", owner, true, true, codes.OK, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.billing.SetDown(tt.billingDown)
			defer e.billing.SetDown(false)
			as := e.asAdmin(t)
			if tt.asOwner {
				as = e.as(t, tt.user)
			}
			before := e.billing.Lookups()
			resp, err := e.orders.ListOrders(ctx, &orderv1.ListOrdersRequest{UserId: tt.user}, as)
			if status.Code(err) != tt.want {
				t.Fatalf("ListOrders = %v, %v; want %v", resp, err, tt.want)
			}
			if err == nil && len(resp.GetOrders()) != 0 {
				t.Errorf("orders = %v, want none", resp.GetOrders())
			}
			if got := grpcstatus.ReasonOf(err); tt.wantReason != "" && got != tt.wantReason {
				t.Errorf("reason %q, want %q", got, tt.wantReason)
			}
			if got := e.billing.Lookups() - before; got != tt.wantLookups {
				t.Errorf("billing asked %d times, want %d", got, tt.wantLookups)
			}
		})
	}
	if who := e.billing.Callers(); len(who) == 0 || slices.ContainsFunc(who, func(s string) bool { return s != "service:order" }) {
		t.Errorf("billing was called by %v, want service:order only", who)
	}
}

// A user with orders is listed without asking billing.
func TestListOrders_WithOrders_NoBillingLookup(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	e.mustCreate(t, user, 100, "k1")
	before := e.billing.Lookups()
	resp, err := e.orders.ListOrders(context.Background(), &orderv1.ListOrdersRequest{UserId: user}, e.asAdmin(t))
	if err != nil || len(resp.GetOrders()) != 1 {
		t.Fatalf("ListOrders = %v, %v; want one order", resp, err)
	}
	if got := e.billing.Lookups() - before; got != 0 {
		t.Errorf("billing asked %d times for a non-empty page", got)
	}
}
