package grpcserver_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/postgres"
)

// setAdmin grants or revokes as the grant-admin command does.
func (e authEnv) setAdmin(t *testing.T, username string, admin bool) string {
	t.Helper()
	id, err := postgres.New(e.db).SetAdmin(context.Background(), username, admin)
	if err != nil {
		t.Fatalf("SetAdmin(%s, %v): %v", username, admin, err)
	}
	return id
}

// loginRoles logs in and returns the access token's roles and the pair.
func (e authEnv) loginRoles(t *testing.T, login string) ([]string, *userv1.TokenResponse) {
	t.Helper()
	resp, err := e.login(login, goodPassword)
	if err != nil {
		t.Fatalf("login %s: %v", login, err)
	}
	return roles(t, e.claims(t, resp.GetAccessToken())), resp
}

var (
	customerRoles = []string{"customer"}
	adminRoles    = []string{"customer", "admin"}
)

// The role follows the account: when an admin renames itself and a
// customer renames itself to the admin's old name, the customer is not an
// admin and the renamed admin still is.
func TestLogin_CustomerTakesFormerAdminName_NotAdmin(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	root := e.register(t, "root", goodPassword)
	mallory := e.register(t, "mallory", goodPassword)
	if id := e.setAdmin(t, "root", true); id != root.GetId() {
		t.Fatalf("SetAdmin returned %s, want root's id %s", id, root.GetId())
	}
	rename := func(u *userv1.User, login, to string) {
		t.Helper()
		_, s := e.loginRoles(t, login)
		if _, err := e.users.UpdateUser(context.Background(), &userv1.UpdateUserRequest{User: &userv1.User{Id: u.GetId(), Username: to}},
			authtest.Bearer(s.GetAccessToken())); err != nil {
			t.Fatalf("rename %s to %s: %v", login, to, err)
		}
	}
	rename(root, "root", "root-old")
	rename(mallory, "mallory", "root")
	got, s := e.loginRoles(t, "root")
	if !slices.Equal(got, customerRoles) {
		t.Fatalf("the customer now named root has roles %v, want %v", got, customerRoles)
	}
	if sub, _ := e.claims(t, s.GetAccessToken()).Subject(); sub != mallory.GetId() {
		t.Fatalf("login root is %s, want mallory's id %s", sub, mallory.GetId())
	}
	if got, _ := e.loginRoles(t, "root-old"); !slices.Equal(got, adminRoles) {
		t.Fatalf("the renamed admin has roles %v, want %v", got, adminRoles)
	}
	// A new registration of a name never carries the role either.
	e.register(t, "root-new", goodPassword)
	if got, _ := e.loginRoles(t, "root-new"); !slices.Equal(got, customerRoles) {
		t.Fatalf("a new user has roles %v, want %v", got, customerRoles)
	}
}

// A grant shows from the next login; a revoke ends the role at the next
// login and at the next refresh of a session started while admin.
func TestGrantAdmin_NextLoginAdmin_RevokeEndsItOnLoginAndRefresh(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	e.register(t, "ops", goodPassword)
	if got, _ := e.loginRoles(t, "ops"); !slices.Equal(got, customerRoles) {
		t.Fatalf("before the grant: roles %v, want %v", got, customerRoles)
	}
	e.setAdmin(t, "ops", true)
	got, session := e.loginRoles(t, "ops")
	if !slices.Equal(got, adminRoles) {
		t.Fatalf("after the grant: roles %v, want %v", got, adminRoles)
	}
	refreshed, err := e.refresh(session.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	if got := roles(t, e.claims(t, refreshed.GetAccessToken())); !slices.Equal(got, adminRoles) {
		t.Fatalf("refresh while admin: roles %v, want %v", got, adminRoles)
	}
	e.setAdmin(t, "ops", false)
	if got, _ := e.loginRoles(t, "ops"); !slices.Equal(got, customerRoles) {
		t.Fatalf("after the revoke: login roles %v, want %v", got, customerRoles)
	}
	again, err := e.refresh(refreshed.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	if got := roles(t, e.claims(t, again.GetAccessToken())); !slices.Equal(got, customerRoles) {
		t.Fatalf("after the revoke: refresh roles %v, want %v", got, customerRoles)
	}
}

// A grant for a name no live user has fails with USER_NOT_FOUND and sets
// no flag; a deleted user's name counts as unknown.
func TestGrantAdmin_UnknownOrDeletedUser_NotFound(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	gone := e.register(t, "gone", goodPassword)
	e.deleteAsSelf(t, "gone", gone)
	store := postgres.New(e.db)
	for _, name := range []string{"nobody", "gone"} {
		if _, err := store.SetAdmin(context.Background(), name, true); !errors.Is(err, user.ErrNotFound) {
			t.Fatalf("SetAdmin(%s) = %v, want ErrNotFound", name, err)
		}
	}
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM users WHERE is_admin`); err != nil || n != 0 {
		t.Fatalf("admins after refused grants: %d, %v; want 0", n, err)
	}
}
