package grpcserver_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/google/uuid"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	"github.com/kassa-dev/kassa/services/notification/grpcserver"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRules_CoverEveryMethod(t *testing.T) {
	if err := auth.CheckRules([]*grpc.ServiceDesc{&notificationv1.NotificationService_ServiceDesc}, grpcserver.Rules); err != nil {
		t.Fatal(err)
	}
}

// The identities every RPC is called with. "bad token" stands for every
// refusal case of authtest.BadTokens.
var identities = []string{"no token", "bad token", "another customer", "owner", "admin", "service user", "service order"}

// accessCase is one RPC: how to call it for the owner's letters, and the
// code each identity gets.
type accessCase struct {
	method string
	call   func(ctx context.Context, opts ...grpc.CallOption) (any, error)
	want   map[string]codes.Code
}

func accessCases(c client, owner, letterID string) []accessCase {
	denied, unauth := codes.PermissionDenied, codes.Unauthenticated
	return []accessCase{
		{
			method: notificationv1.NotificationService_SendNotification_FullMethodName,
			call: func(ctx context.Context, opts ...grpc.CallOption) (any, error) {
				// A fresh key, so an admitted call stores a letter.
				return c.raw.SendNotification(ctx, sendReq(owner, "access-"+uuid.NewString()), opts...)
			},
			want: map[string]codes.Code{"no token": unauth, "bad token": unauth, "another customer": denied, "owner": denied,
				"admin": denied, "service user": denied, "service order": codes.OK},
		},
		{
			method: notificationv1.NotificationService_GetNotification_FullMethodName,
			call: func(ctx context.Context, opts ...grpc.CallOption) (any, error) {
				return c.raw.GetNotification(ctx, &notificationv1.GetNotificationRequest{UserId: owner, Id: letterID}, opts...)
			},
			want: map[string]codes.Code{"no token": unauth, "bad token": unauth, "another customer": codes.NotFound, "owner": codes.OK,
				"admin": codes.OK, "service user": denied, "service order": denied},
		},
		{
			method: notificationv1.NotificationService_ListNotifications_FullMethodName,
			call: func(ctx context.Context, opts ...grpc.CallOption) (any, error) {
				return c.raw.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: owner}, opts...)
			},
			want: map[string]codes.Code{"no token": unauth, "bad token": unauth, "another customer": codes.NotFound, "owner": codes.OK,
				"admin": codes.OK, "service user": denied, "service order": denied},
		},
	}
}

func (c client) letterCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := c.db.Get(&n, `SELECT count(*) FROM notifications`); err != nil {
		t.Fatal(err)
	}
	return n
}

// Every RPC × every identity: the code of each cell, and a refused call
// stores nothing and returns nothing.
func TestAccess_EveryRPCByIdentity(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	owner := uuid.NewString()
	letter, err := c.SendNotification(ctx, sendReq(owner, "first"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string][]authtest.BadToken{
		"no token":         {{Name: "none"}},
		"bad token":        c.iss.BadTokens(t, nil),
		"another customer": {{Name: "customer", Token: c.iss.Customer(t, uuid.NewString())}},
		"owner":            {{Name: "owner", Token: c.iss.Customer(t, owner)}},
		"admin":            {{Name: "admin", Token: c.iss.Admin(t, uuid.NewString())}},
		"service user":     {{Name: "user", Token: c.iss.Service(t, "user")}},
		"service order":    {{Name: "order", Token: c.iss.Service(t, "order")}},
	}
	cases := accessCases(c, owner, letter.GetId())
	var tested []string
	for _, tc := range cases {
		tested = append(tested, tc.method)
		for _, who := range identities {
			want, ok := tc.want[who]
			if !ok {
				t.Fatalf("%s has no expectation for %q", tc.method, who)
			}
			for _, tok := range tokens[who] {
				t.Run(tc.method+"/"+who+"/"+tok.Name, func(t *testing.T) {
					var opts []grpc.CallOption
					if tok.Token != "" {
						opts = append(opts, authtest.Bearer(tok.Token))
					}
					before := c.letterCount(t)
					resp, err := tc.call(ctx, opts...)
					if got := status.Code(err); got != want {
						t.Fatalf("code = %v (%v), want %v", got, err, want)
					}
					after := c.letterCount(t)
					stored := 0
					if want == codes.OK && tc.method == notificationv1.NotificationService_SendNotification_FullMethodName {
						stored = 1
					}
					if after-before != stored {
						t.Fatalf("letters %d → %d, want %d stored", before, after, stored)
					}
					if err != nil && !isNil(resp) {
						t.Fatalf("a refused call returned %v", resp)
					}
				})
			}
		}
	}
	slices.Sort(tested)
	if rules := slices.Sorted(maps.Keys(grpcserver.Rules)); !slices.Equal(tested, rules) {
		t.Fatalf("the access table covers %v, the rules %v: add a row for every RPC", tested, rules)
	}
}

func isNil(v any) bool {
	switch r := v.(type) {
	case *notificationv1.Notification:
		return r == nil
	case *notificationv1.ListNotificationsResponse:
		return r == nil
	}
	return v == nil
}

// What the owner and an admin read is the owner's letter, and the list an
// admin gets is the owner's, not the admin's own.
func TestAccess_AdminReadsTheNamedUsersLetters(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	owner, admin := uuid.NewString(), uuid.NewString()
	sent, err := c.SendNotification(ctx, sendReq(owner, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendNotification(ctx, sendReq(admin, "")); err != nil {
		t.Fatal(err)
	}
	list, err := c.raw.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: owner}, authtest.Bearer(c.iss.Admin(t, admin)))
	if err != nil || len(list.GetNotifications()) != 1 || list.GetNotifications()[0].GetId() != sent.GetId() {
		t.Fatalf("admin's list of the owner = %v, %v; want only %s", list, err, sent.GetId())
	}
}
