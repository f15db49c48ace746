package grpcserver_test

import (
	"context"
	"slices"
	"testing"

	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An admin listing the letters of a user that never existed gets
// USER_NOT_FOUND, as billing's ledger answers, not an empty list; a user
// whose account exists (also closed: a deleted user) has an empty list;
// with billing down the answer is UNAVAILABLE, never a guess. A non-empty
// mailbox and the owner's own never ask billing; billing is asked as
// service:notification.
func TestListNotifications_UnknownUser_NotFoundForAdmins(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	live, deleted, withLetter := authtest.NewUserID(), authtest.NewUserID(), authtest.NewUserID()
	c.billing.open(live, false)
	c.billing.open(deleted, true)
	if _, err := c.SendNotification(ctx, sendReq(withLetter, "r1")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		user        string
		asOwner     bool
		billingDown bool
		want        codes.Code
		wantLetters int
		wantLookups int
	}{
		{"never existed", authtest.NewUserID(), false, false, codes.NotFound, 0, 1},
		{"exists, no letters", live, false, false, codes.OK, 0, 1},
		{"deleted: account closed", deleted, false, false, codes.OK, 0, 1},
		{"billing down", live, false, true, codes.Unavailable, 0, 1},
		{"the owner asks, billing down", authtest.NewUserID(), true, true, codes.OK, 0, 0},
		{"letters, billing down", withLetter, false, true, codes.OK, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.billing.setDown(tt.billingDown)
			defer c.billing.setDown(false)
			as := authtest.Bearer(c.iss.Admin(t, authtest.NewUserID()))
			if tt.asOwner {
				as = c.as(tt.user)
			}
			before, _ := c.billing.stats()
			resp, err := c.raw.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: tt.user}, as)
			if status.Code(err) != tt.want {
				t.Fatalf("ListNotifications = %v, %v; want %v", resp, err, tt.want)
			}
			if tt.want == codes.NotFound && grpcstatus.ReasonOf(err) != "USER_NOT_FOUND" {
				t.Errorf("reason %q, want USER_NOT_FOUND", grpcstatus.ReasonOf(err))
			}
			if len(resp.GetNotifications()) != tt.wantLetters {
				t.Errorf("%d letters, want %d", len(resp.GetNotifications()), tt.wantLetters)
			}
			if after, _ := c.billing.stats(); after-before != tt.wantLookups {
				t.Errorf("billing asked %d times, want %d", after-before, tt.wantLookups)
			}
		})
	}
	if _, who := c.billing.stats(); len(who) == 0 || slices.ContainsFunc(who, func(s string) bool { return s != "service:notification" }) {
		t.Errorf("billing was called by %v, want service:notification only", who)
	}
}
