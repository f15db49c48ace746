package grpcserver_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/grpcserver"
	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/password"
	"github.com/kassa-dev/kassa/services/user/peers"
	"github.com/kassa-dev/kassa/services/user/postgres"
	"github.com/kassa-dev/kassa/services/user/token"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRules_CoverEveryMethod(t *testing.T) {
	descs := []*grpc.ServiceDesc{&userv1.UserService_ServiceDesc, &userv1.AuthService_ServiceDesc, &userv1.UserAdminService_ServiceDesc}
	if err := auth.CheckRules(descs, grpcserver.Rules); err != nil {
		t.Fatal(err)
	}
}

// identities every RPC is called with; "bad token" stands for every
// refusal case of authtest.BadTokens.
var identities = []string{"no token", "bad token", "another customer", "owner", "admin", "service user", "service order"}

// accessEnv serves all three services with the access checks on: tokens of
// callers from an authtest issuer, and a real signing key for what
// AuthService itself issues.
type accessEnv struct {
	iss       *authtest.Issuer
	users     userv1.UserServiceClient
	auth      userv1.AuthServiceClient
	admin     userv1.UserAdminServiceClient
	db        *sqlx.DB
	billing   *fakeBilling
	hash      string // of testPassword, computed once
	adminID   string
	customer  string // another live customer
	n         int
	orderHash string
}

const orderSecret = "order-client-secret-for-tests"

func newAccessEnv(t *testing.T) *accessEnv {
	t.Helper()
	fb := newFakeBilling()
	billingConn := grpctest.Serve(t, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, fb) })
	db := pgtest.NewDB(t, postgres.Migrations)
	store := postgres.New(db)
	svc, err := app.New(store, peers.NewAccounts(billingv1.NewBillingServiceClient(billingConn)), app.Config{Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing-keys.json")
	if _, err := keys.Generate(path); err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.New(token.Config{Keys: ks, Issuer: testIssuer, Audience: testAudience, TTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := app.ParseClients("order=" + app.SecretHash(orderSecret))
	if err != nil {
		t.Fatal(err)
	}
	iss := authtest.NewIssuer(t)
	conn := authtest.Serve(t, iss.Verifier(t), grpcserver.Rules, func(s *grpc.Server) {
		userv1.RegisterUserServiceServer(s, grpcserver.New(svc))
		userv1.RegisterUserAdminServiceServer(s, grpcserver.NewAdmin(svc))
		userv1.RegisterAuthServiceServer(s, grpcserver.NewAuth(app.NewAuth(store, app.AuthConfig{Issuer: signer, Clients: clients})))
	})
	h, err := password.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	e := &accessEnv{iss: iss, users: userv1.NewUserServiceClient(conn), auth: userv1.NewAuthServiceClient(conn),
		admin: userv1.NewUserAdminServiceClient(conn), db: db, billing: fb, hash: h}
	e.adminID = e.insertUser(t)
	e.customer = e.insertUser(t)
	return e
}

// insertUser stores a live user with testPassword directly (no billing
// account, which DeleteUser takes as closed) and returns its id.
func (e *accessEnv) insertUser(t *testing.T) string {
	t.Helper()
	e.n++
	var id string
	name := fmt.Sprintf("acc%03d", e.n)
	if err := e.db.Get(&id, `INSERT INTO users (username, email, account_ready, password_hash) VALUES ($1, $1 || '@example.com', true, $2) RETURNING id`,
		name, e.hash); err != nil {
		t.Fatal(err)
	}
	return id
}

// state is everything a refused call must leave as it was: every user row
// (profiles, deletes, repair schedule, lock counters), sessions, and
// billing's accounts.
func (e *accessEnv) state(t *testing.T) string {
	t.Helper()
	var users, sessions string
	if err := e.db.Get(&users, `SELECT coalesce(json_agg(u ORDER BY id)::text, '') FROM users u`); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Get(&sessions, `SELECT (SELECT count(*) FROM refresh_tokens) || '/' || (SELECT count(*) FROM refresh_families WHERE revoke_time IS NULL)`); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s|%s|%d accounts", users, sessions, e.billing.accountCount())
}

type call func(ctx context.Context, owner string, opts ...grpc.CallOption) error

func (e *accessEnv) cases(t *testing.T) map[string]struct {
	call call
	want map[string]codes.Code
} {
	denied, unauth, nf, ok := codes.PermissionDenied, codes.Unauthenticated, codes.NotFound, codes.OK
	public := map[string]codes.Code{}
	for _, who := range identities {
		public[who] = ok
	}
	ownerOrAdmin := map[string]codes.Code{"no token": unauth, "bad token": unauth, "another customer": nf, "owner": ok,
		"admin": ok, "service user": denied, "service order": denied}
	adminOnly := map[string]codes.Code{"no token": unauth, "bad token": unauth, "another customer": denied, "owner": denied,
		"admin": ok, "service user": denied, "service order": denied}
	getUser := maps.Clone(ownerOrAdmin)
	getUser["service order"] = ok // the buyer's email for the order's letter
	username := func(owner string) string {
		var name string
		if err := e.db.Get(&name, `SELECT username FROM users WHERE id = $1`, owner); err != nil {
			t.Fatal(err)
		}
		return name
	}
	login := func(ctx context.Context, owner string) (*userv1.TokenResponse, error) {
		return e.auth.Login(ctx, &userv1.LoginRequest{Username: username(owner), Password: testPassword})
	}
	type row = struct {
		call call
		want map[string]codes.Code
	}
	return map[string]row{
		userv1.UserService_CreateUser_FullMethodName: {func(ctx context.Context, owner string, opts ...grpc.CallOption) error {
			_, err := e.users.CreateUser(ctx, &userv1.CreateUserRequest{User: newUser("new" + uuid.NewString()[:8])}, opts...)
			return err
		}, public},
		userv1.UserService_GetUser_FullMethodName: {func(ctx context.Context, owner string, opts ...grpc.CallOption) error {
			_, err := e.users.GetUser(ctx, &userv1.GetUserRequest{Id: owner}, opts...)
			return err
		}, getUser},
		userv1.UserService_ListUsers_FullMethodName: {func(ctx context.Context, _ string, opts ...grpc.CallOption) error {
			_, err := e.users.ListUsers(ctx, &userv1.ListUsersRequest{}, opts...)
			return err
		}, adminOnly},
		userv1.UserService_UpdateUser_FullMethodName: {func(ctx context.Context, owner string, opts ...grpc.CallOption) error {
			_, err := e.users.UpdateUser(ctx, &userv1.UpdateUserRequest{User: &userv1.User{Id: owner, LastName: "Changed"}}, opts...)
			return err
		}, ownerOrAdmin},
		userv1.UserService_DeleteUser_FullMethodName: {func(ctx context.Context, owner string, opts ...grpc.CallOption) error {
			_, err := e.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: owner}, opts...)
			return err
		}, ownerOrAdmin},
		userv1.AuthService_Login_FullMethodName: {func(ctx context.Context, owner string, opts ...grpc.CallOption) error {
			_, err := e.auth.Login(ctx, &userv1.LoginRequest{Username: username(owner), Password: testPassword}, opts...)
			return err
		}, public},
		userv1.AuthService_Refresh_FullMethodName: {func(ctx context.Context, owner string, opts ...grpc.CallOption) error {
			s, err := login(ctx, owner)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.auth.Refresh(ctx, &userv1.RefreshRequest{RefreshToken: s.GetRefreshToken()}, opts...)
			return err
		}, public},
		userv1.AuthService_Logout_FullMethodName: {func(ctx context.Context, owner string, opts ...grpc.CallOption) error {
			s, err := login(ctx, owner)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.auth.Logout(ctx, &userv1.LogoutRequest{RefreshToken: s.GetRefreshToken()}, opts...)
			return err
		}, public},
		userv1.AuthService_Token_FullMethodName: {func(ctx context.Context, _ string, opts ...grpc.CallOption) error {
			_, err := e.auth.Token(ctx, &userv1.TokenRequest{GrantType: "client_credentials", ClientId: "order", ClientSecret: orderSecret}, opts...)
			return err
		}, public},
		userv1.UserAdminService_ListParked_FullMethodName: {func(ctx context.Context, _ string, opts ...grpc.CallOption) error {
			_, err := e.admin.ListParked(ctx, &userv1.ListParkedRequest{}, opts...)
			return err
		}, adminOnly},
		userv1.UserAdminService_RetryParked_FullMethodName: {func(ctx context.Context, owner string, opts ...grpc.CallOption) error {
			_, err := e.admin.RetryParked(ctx, &userv1.RetryParkedRequest{UserIds: []string{owner}}, opts...)
			return err
		}, adminOnly},
	}
}

// Every RPC × every identity: the code of each cell, and a refused call
// changes nothing (users, sessions, accounts). Each cell has an owner of
// its own, so an admitted delete does not spoil the next cell.
func TestAccess_EveryRPCByIdentity(t *testing.T) {
	e := newAccessEnv(t)
	ctx := context.Background()
	cases := e.cases(t)
	if got, want := slices.Sorted(maps.Keys(cases)), slices.Sorted(maps.Keys(grpcserver.Rules)); !slices.Equal(got, want) {
		t.Fatalf("the access table covers %v, the rules %v: add a row for every RPC", got, want)
	}
	bad := e.iss.BadTokens(t, nil)
	for _, method := range slices.Sorted(maps.Keys(cases)) {
		tc := cases[method]
		for _, who := range identities {
			want, ok := tc.want[who]
			if !ok {
				t.Fatalf("%s has no expectation for %q", method, who)
			}
			owner := e.insertUser(t)
			var tokens []authtest.BadToken
			switch who {
			case "no token":
				tokens = []authtest.BadToken{{Name: "none"}}
			case "bad token":
				tokens = bad
			case "another customer":
				tokens = []authtest.BadToken{{Name: "customer", Token: e.iss.Customer(t, e.customer)}}
			case "owner":
				tokens = []authtest.BadToken{{Name: "owner", Token: e.iss.Customer(t, owner)}}
			case "admin":
				tokens = []authtest.BadToken{{Name: "admin", Token: e.iss.Admin(t, e.adminID)}}
			case "service user":
				tokens = []authtest.BadToken{{Name: "user", Token: e.iss.Service(t, "user")}}
			case "service order":
				tokens = []authtest.BadToken{{Name: "order", Token: e.iss.Service(t, "order")}}
			}
			for _, tok := range tokens {
				t.Run(method+"/"+who+"/"+tok.Name, func(t *testing.T) {
					var opts []grpc.CallOption
					if tok.Token != "" {
						opts = append(opts, authtest.Bearer(tok.Token))
					}
					before := e.state(t)
					err := tc.call(ctx, owner, opts...)
					if got := status.Code(err); got != want {
						t.Fatalf("code = %v (%v), want %v", got, err, want)
					}
					if want != codes.OK {
						if after := e.state(t); after != before {
							t.Fatalf("a refused call changed the state:\nbefore %s\nafter  %s", before, after)
						}
					}
				})
			}
		}
	}
}

// A token of a user who was deleted (or never existed here) still
// verifies until it expires, but every user-service RPC that takes a
// token refuses it as invalid, also when it carries the admin role.
func TestAccess_TokenOfDeletedUser_Refused(t *testing.T) {
	e := newAccessEnv(t)
	ctx := context.Background()
	gone := e.insertUser(t)
	if _, err := e.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: gone}, authtest.Bearer(e.iss.Customer(t, gone))); err != nil {
		t.Fatal(err)
	}
	cases := e.cases(t)
	for name, tok := range map[string]string{
		"deleted customer": e.iss.Customer(t, gone),
		"deleted admin":    e.iss.Admin(t, gone),
		"unknown admin":    e.iss.Admin(t, authtest.NewUserID()),
	} {
		for _, method := range slices.Sorted(maps.Keys(cases)) {
			if grpcserver.Rules[method].IsPublic() {
				continue
			}
			t.Run(name+"/"+method, func(t *testing.T) {
				before := e.state(t)
				err := cases[method].call(ctx, gone, authtest.Bearer(tok))
				code := status.Code(err)
				// Where the rule itself refuses the role (a customer on
				// ListUsers), PERMISSION_DENIED comes first; that admits
				// nothing either.
				if code != codes.Unauthenticated && !(code == codes.PermissionDenied && name == "deleted customer") {
					t.Fatalf("code = %v (%v), want UNAUTHENTICATED", code, err)
				}
				if after := e.state(t); after != before {
					t.Fatalf("a refused call changed the state")
				}
			})
		}
	}
}
