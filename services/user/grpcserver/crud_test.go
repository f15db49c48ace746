package grpcserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

func TestGetUser_Errors(t *testing.T) {
	e := newEnv(t)
	deleted := e.create(t, "gone")
	if _, err := e.users.DeleteUser(context.Background(), &userv1.DeleteUserRequest{Id: deleted.GetId()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   string
		want codes.Code
	}{
		{"empty id", "", codes.InvalidArgument},
		{"malformed id", "user-1", codes.InvalidArgument},
		{"unknown id", uuid.NewString(), codes.NotFound},
		{"deleted user", deleted.GetId(), codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.byAdmin.GetUser(context.Background(), &userv1.GetUserRequest{Id: tt.id})
			wantCode(t, err, tt.want)
		})
	}
	// The deleted user's own token still verifies (it has not expired) but
	// is refused as an invalid token.
	_, err := e.users.GetUser(context.Background(), &userv1.GetUserRequest{Id: deleted.GetId()})
	wantCallerGone(t, err)
}

func wantCallerGone(t *testing.T, err error) {
	t.Helper()
	wantCode(t, err, codes.Unauthenticated)
	if r := grpcstatus.ReasonOf(err); r != auth.ReasonInvalidToken {
		t.Fatalf("reason = %q, want %s", r, auth.ReasonInvalidToken)
	}
}

func TestGetUser_AcceptsUpperCaseID(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "ada")
	got, err := e.users.GetUser(context.Background(), &userv1.GetUserRequest{Id: strings.ToUpper(u.GetId())})
	if err != nil || got.GetId() != u.GetId() {
		t.Fatalf("GetUser(upper) = %v, %v", got, err)
	}
}

func TestListUsers_OldestFirstAcrossPages_WithoutDeleted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var want []string
	for _, name := range []string{"usr1", "usr2", "usr3", "usr4", "usr5", "usr6"} {
		want = append(want, e.create(t, name).GetId())
	}
	if _, err := e.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: want[2]}); err != nil {
		t.Fatal(err)
	}
	// The env's admin is the oldest live user.
	want = append([]string{e.adminID}, append(want[:2], want[3:]...)...)
	var got []string
	token, pages := "", 0
	for {
		resp, err := e.users.ListUsers(ctx, &userv1.ListUsersRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range resp.GetUsers() {
			got = append(got, u.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d pages of %v; want 3 pages of %v", pages, got, want)
	}
}

func TestListUsers_BadInput(t *testing.T) {
	e := newEnv(t)
	for _, r := range []*userv1.ListUsersRequest{
		{PageSize: -1},
		{PageSize: 1001},
		{PageToken: "not a token"},
		{PageToken: "eyJ0IjoiMjAyNC0wMS0wMVQwMDowMDowMFoiLCJpIjoieCJ9"}, // well-formed, id not a UUID
	} {
		_, err := e.users.ListUsers(context.Background(), r)
		wantCode(t, err, codes.InvalidArgument)
	}
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

func TestUpdateUser_ChangesOnlyMaskedFields(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.create(t, "ada")
	got, err := e.users.UpdateUser(ctx, &userv1.UpdateUserRequest{
		User:       &userv1.User{Id: u.GetId(), Email: "lovelace@example.com", FirstName: "ignored"},
		UpdateMask: mask("email"),
	})
	if err != nil || got.GetEmail() != "lovelace@example.com" || got.GetFirstName() != "First" || got.GetUsername() != "ada" {
		t.Fatalf("UpdateUser(email) = %v, %v", got, err)
	}
	if !got.GetCreateTime().AsTime().Equal(u.GetCreateTime().AsTime()) || got.GetUpdateTime().AsTime().Before(u.GetUpdateTime().AsTime()) {
		t.Fatalf("times: created %v→%v, updated %v→%v", u.GetCreateTime(), got.GetCreateTime(), u.GetUpdateTime(), got.GetUpdateTime())
	}
	// A masked field that is empty in the request is cleared.
	got, err = e.users.UpdateUser(ctx, &userv1.UpdateUserRequest{User: &userv1.User{Id: u.GetId()}, UpdateMask: mask("phone", "last_name")})
	if err != nil || got.GetPhone() != "" || got.GetLastName() != "" || got.GetFirstName() != "First" {
		t.Fatalf("UpdateUser(clear) = %v, %v", got, err)
	}
	stored, err := e.users.GetUser(ctx, &userv1.GetUserRequest{Id: u.GetId()})
	if err != nil || !proto.Equal(stored, got) {
		t.Fatalf("GetUser after update = %v, %v; want %v", stored, err, got)
	}
}

func TestUpdateUser_EmptyMaskUpdatesSetFields(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "ada")
	got, err := e.users.UpdateUser(context.Background(), &userv1.UpdateUserRequest{
		User: &userv1.User{Id: u.GetId(), Username: "ada2", LastName: "King"},
	})
	if err != nil || got.GetUsername() != "ada2" || got.GetLastName() != "King" ||
		got.GetEmail() != u.GetEmail() || got.GetFirstName() != u.GetFirstName() || got.GetPhone() != u.GetPhone() {
		t.Fatalf("UpdateUser(no mask) = %v, %v", got, err)
	}
}

func TestUpdateUser_Errors(t *testing.T) {
	e := newEnv(t)
	ada := e.create(t, "ada")
	e.create(t, "bob")
	gone := e.create(t, "gone")
	if _, err := e.users.DeleteUser(context.Background(), &userv1.DeleteUserRequest{Id: gone.GetId()}); err != nil {
		t.Fatal(err)
	}
	id := ada.GetId()
	tests := []struct {
		name string
		req  *userv1.UpdateUserRequest
		want codes.Code
	}{
		{"no user", &userv1.UpdateUserRequest{}, codes.InvalidArgument},
		{"malformed id", &userv1.UpdateUserRequest{User: &userv1.User{Id: "1", Username: "abc"}}, codes.InvalidArgument},
		{"nothing to update", &userv1.UpdateUserRequest{User: &userv1.User{Id: id}}, codes.InvalidArgument},
		{"unknown mask path", &userv1.UpdateUserRequest{User: &userv1.User{Id: id}, UpdateMask: mask("nickname")}, codes.InvalidArgument},
		{"output-only mask path", &userv1.UpdateUserRequest{User: &userv1.User{Id: id}, UpdateMask: mask("create_time")}, codes.InvalidArgument},
		{"bad username", &userv1.UpdateUserRequest{User: &userv1.User{Id: id, Username: "A"}, UpdateMask: mask("username")}, codes.InvalidArgument},
		{"clearing username", &userv1.UpdateUserRequest{User: &userv1.User{Id: id}, UpdateMask: mask("username")}, codes.InvalidArgument},
		{"bad email", &userv1.UpdateUserRequest{User: &userv1.User{Id: id, Email: "nope"}}, codes.InvalidArgument},
		{"long first name", &userv1.UpdateUserRequest{User: &userv1.User{Id: id, FirstName: strings.Repeat("x", 101)}}, codes.InvalidArgument},
		{"bad phone", &userv1.UpdateUserRequest{User: &userv1.User{Id: id, Phone: "12"}}, codes.InvalidArgument},
		{"taken username", &userv1.UpdateUserRequest{User: &userv1.User{Id: id, Username: "bob"}}, codes.AlreadyExists},
		{"taken email", &userv1.UpdateUserRequest{User: &userv1.User{Id: id, Email: "BOB@example.com"}}, codes.AlreadyExists},
		{"unknown user", &userv1.UpdateUserRequest{User: &userv1.User{Id: uuid.NewString(), LastName: "X"}}, codes.NotFound},
		{"deleted user", &userv1.UpdateUserRequest{User: &userv1.User{Id: gone.GetId(), LastName: "X"}}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.byAdmin.UpdateUser(context.Background(), tt.req)
			wantCode(t, err, tt.want)
		})
	}
	after, err := e.users.GetUser(context.Background(), &userv1.GetUserRequest{Id: id})
	if err != nil || !proto.Equal(after, ada) {
		t.Fatalf("failed updates changed the user: %v, %v", after, err)
	}
}

func TestDeleteUser_ClosesAccountAndFreesUsername(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.create(t, "ada")
	deleted, err := e.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: u.GetId()})
	if err != nil || deleted.GetDeleteTime() == nil || deleted.GetId() != u.GetId() || deleted.GetUsername() != "ada" {
		t.Fatalf("DeleteUser = %v, %v", deleted, err)
	}
	if a := e.billing.account(u.GetId()); a == nil || a.GetCloseTime() == nil {
		t.Fatalf("account after delete = %v, want closed (and kept)", a)
	}
	_, err = e.byAdmin.GetUser(ctx, &userv1.GetUserRequest{Id: u.GetId()})
	wantCode(t, err, codes.NotFound)
	_, err = e.byAdmin.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: u.GetId()})
	wantCode(t, err, codes.NotFound)
	// The deleted user's token is refused.
	_, err = e.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: u.GetId()})
	wantCallerGone(t, err)
	again := e.create(t, "ada")
	if again.GetId() == u.GetId() || e.billing.account(again.GetId()) == nil {
		t.Fatalf("re-created user %v", again)
	}
}

func TestDeleteUser_BillingDown_KeepsUser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.create(t, "ada")
	e.billing.setFailClose(1)
	_, err := e.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: u.GetId()})
	wantCode(t, err, codes.Unavailable)
	if _, err := e.users.GetUser(ctx, &userv1.GetUserRequest{Id: u.GetId()}); err != nil {
		t.Fatalf("user gone after a failed delete: %v", err)
	}
	if _, err := e.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: u.GetId()}); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestDeleteUser_PendingUserWithoutAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.billing.setFailCreate(1)
	_, err := e.users.CreateUser(ctx, &userv1.CreateUserRequest{User: newUser("ada")})
	wantCode(t, err, codes.Unavailable)
	list, err := e.users.ListUsers(ctx, &userv1.ListUsersRequest{})
	if err != nil || len(e.others(list.GetUsers())) != 1 {
		t.Fatal(list, err)
	}
	// Billing answers NOT_FOUND for the missing account; that is success.
	deleted, err := e.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: e.others(list.GetUsers())[0].GetId()})
	if err != nil || deleted.GetDeleteTime() == nil {
		t.Fatalf("DeleteUser = %v, %v", deleted, err)
	}
	if rep, err := e.app.Repair(ctx); err != nil || rep.Finished != 0 || e.billing.accountCount() != 0 {
		t.Fatalf("repair after delete = %+v, %v, %d accounts; want nothing", rep, err, e.billing.accountCount())
	}
}

func TestDeleteUser_BadInput(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"", "abc"} {
		_, err := e.users.DeleteUser(context.Background(), &userv1.DeleteUserRequest{Id: id})
		wantCode(t, err, codes.InvalidArgument)
	}
	_, err := e.byAdmin.DeleteUser(context.Background(), &userv1.DeleteUserRequest{Id: uuid.NewString()})
	wantCode(t, err, codes.NotFound)
}
