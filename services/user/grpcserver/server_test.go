package grpcserver_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/grpcserver"
	"github.com/kassa-dev/kassa/services/user/peers"
	"github.com/kassa-dev/kassa/services/user/postgres"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type env struct {
	// users calls as the caller the service expects (see userClient),
	// byAdmin as an admin; raw carries no token of its own.
	users, byAdmin userClient
	raw            userv1.UserServiceClient
	admin          adminClient
	iss            *authtest.Issuer
	adminID        string
	billing        *fakeBilling
	app            *app.Service
	db             *sqlx.DB
}

// newEnv serves the user service with a real store and the access checks
// enforced (tokens from an in-process issuer), talking over gRPC to a fake
// billing service.
func newEnv(t *testing.T) env {
	t.Helper()
	return newEnvWith(t, app.Config{})
}

// newEnvWith is newEnv with cfg for the use cases (the currency is always
// USD). The env has one live admin user, stored directly (it needs no
// account and no password): admin calls are refused for a user who is not
// live.
func newEnvWith(t *testing.T, cfg app.Config) env {
	t.Helper()
	fb := newFakeBilling()
	billingConn := grpctest.Serve(t, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, fb) })
	accounts := peers.NewAccounts(billingv1.NewBillingServiceClient(billingConn))
	db := pgtest.NewDB(t, postgres.Migrations)
	cfg.Currency = "USD"
	svc, err := app.New(postgres.New(db), accounts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	iss := authtest.NewIssuer(t)
	conn := authtest.Serve(t, iss.Verifier(t), grpcserver.Rules, func(s *grpc.Server) {
		userv1.RegisterUserServiceServer(s, grpcserver.New(svc))
		userv1.RegisterUserAdminServiceServer(s, grpcserver.NewAdmin(svc))
	})
	var adminID string
	if err := db.Get(&adminID, `INSERT INTO users (username, email, account_ready) VALUES ('op.admin', 'op.admin@example.com', true) RETURNING id`); err != nil {
		t.Fatal(err)
	}
	raw := userv1.NewUserServiceClient(conn)
	asAdmin := authtest.Bearer(iss.Admin(t, adminID))
	owner := func(id string) grpc.CallOption {
		u, err := uuid.Parse(id)
		if err != nil || len(id) != 36 {
			return asAdmin
		}
		return authtest.Bearer(iss.Customer(t, u.String()))
	}
	return env{
		users:   userClient{raw: raw, owner: owner, admin: asAdmin},
		byAdmin: userClient{raw: raw, owner: func(string) grpc.CallOption { return asAdmin }, admin: asAdmin},
		raw:     raw, admin: adminClient{raw: userv1.NewUserAdminServiceClient(conn), as: asAdmin},
		iss: iss, adminID: adminID, billing: fb, app: svc, db: db,
	}
}

// userClient calls UserService as the identities the service expects:
// registration with no token, a user's record as that user (the id the
// request names; a request naming no valid id is made by the admin, a live
// caller who must get INVALID_ARGUMENT all the same), the list as an
// admin. Tests of who may call what use env.raw with tokens of their own.
type userClient struct {
	raw   userv1.UserServiceClient
	owner func(id string) grpc.CallOption
	admin grpc.CallOption
}

func (c userClient) CreateUser(ctx context.Context, r *userv1.CreateUserRequest) (*userv1.User, error) {
	return c.raw.CreateUser(ctx, r)
}

func (c userClient) GetUser(ctx context.Context, r *userv1.GetUserRequest) (*userv1.User, error) {
	return c.raw.GetUser(ctx, r, c.owner(r.GetId()))
}

func (c userClient) ListUsers(ctx context.Context, r *userv1.ListUsersRequest) (*userv1.ListUsersResponse, error) {
	return c.raw.ListUsers(ctx, r, c.admin)
}

func (c userClient) UpdateUser(ctx context.Context, r *userv1.UpdateUserRequest) (*userv1.User, error) {
	return c.raw.UpdateUser(ctx, r, c.owner(r.GetUser().GetId()))
}

func (c userClient) DeleteUser(ctx context.Context, r *userv1.DeleteUserRequest) (*userv1.User, error) {
	return c.raw.DeleteUser(ctx, r, c.owner(r.GetId()))
}

// adminClient calls UserAdminService as the env's admin.
type adminClient struct {
	raw userv1.UserAdminServiceClient
	as  grpc.CallOption
}

func (c adminClient) ListParked(ctx context.Context, r *userv1.ListParkedRequest) (*userv1.ListParkedResponse, error) {
	return c.raw.ListParked(ctx, r, c.as)
}

func (c adminClient) RetryParked(ctx context.Context, r *userv1.RetryParkedRequest) (*userv1.RetryParkedResponse, error) {
	return c.raw.RetryParked(ctx, r, c.as)
}

// others drops the env's admin from a list: the users the test made.
func (e env) others(us []*userv1.User) []*userv1.User {
	var out []*userv1.User
	for _, u := range us {
		if u.GetId() != e.adminID {
			out = append(out, u)
		}
	}
	return out
}

// testPassword is the password of the users tests create: CreateUser
// requires one.
const testPassword = "correct horse battery"

func newUser(name string) *userv1.User {
	return &userv1.User{Username: name, Email: name + "@example.com", FirstName: "First", LastName: "Last", Phone: "+15551234567",
		Password: testPassword}
}

func (e env) create(t *testing.T, name string) *userv1.User {
	t.Helper()
	u, err := e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: newUser(name), RequestId: uuid.NewString()})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

func TestCreateUser_OpensAccount(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "ada")
	want := newUser("ada")
	if u.GetId() == "" || u.GetUsername() != want.Username || u.GetEmail() != want.Email || u.GetPhone() != want.Phone ||
		u.GetFirstName() != "First" || u.GetLastName() != "Last" || u.GetCreateTime() == nil || u.GetUpdateTime() == nil || u.GetDeleteTime() != nil {
		t.Fatalf("created %v", u)
	}
	if a := e.billing.account(u.GetId()); a == nil || a.GetCurrency() != "USD" || a.GetCloseTime() != nil {
		t.Fatalf("billing account = %v, want an open USD account", a)
	}
	got, err := e.users.GetUser(context.Background(), &userv1.GetUserRequest{Id: u.GetId()})
	if err != nil || !proto.Equal(got, u) {
		t.Fatalf("GetUser = %v, %v; want %v", got, err, u)
	}
}

func TestCreateUser_BadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		edit  func(r *userv1.CreateUserRequest)
		field string
	}{
		{"no user", func(r *userv1.CreateUserRequest) { r.User = nil }, "user.username"},
		{"no username", func(r *userv1.CreateUserRequest) { r.User.Username = "" }, "user.username"},
		{"upper-case username", func(r *userv1.CreateUserRequest) { r.User.Username = "Ada" }, "user.username"},
		{"short username", func(r *userv1.CreateUserRequest) { r.User.Username = "ad" }, "user.username"},
		{"long username", func(r *userv1.CreateUserRequest) { r.User.Username = strings.Repeat("a", 33) }, "user.username"},
		{"username with @", func(r *userv1.CreateUserRequest) { r.User.Username = "ada@home" }, "user.username"},
		{"no email", func(r *userv1.CreateUserRequest) { r.User.Email = "" }, "user.email"},
		{"bad email", func(r *userv1.CreateUserRequest) { r.User.Email = "ada@" }, "user.email"},
		{"email with name", func(r *userv1.CreateUserRequest) { r.User.Email = "Ada <ada@example.com>" }, "user.email"},
		{"long email", func(r *userv1.CreateUserRequest) { r.User.Email = strings.Repeat("a", 250) + "@x.io" }, "user.email"},
		{"long first name", func(r *userv1.CreateUserRequest) { r.User.FirstName = strings.Repeat("a", 101) }, "user.first_name"},
		{"long last name", func(r *userv1.CreateUserRequest) { r.User.LastName = strings.Repeat("a", 101) }, "user.last_name"},
		{"bad phone", func(r *userv1.CreateUserRequest) { r.User.Phone = "555-1234" }, "user.phone"},
		{"long request_id", func(r *userv1.CreateUserRequest) { r.RequestId = strings.Repeat("r", 129) }, "request_id"},
		{"no password", func(r *userv1.CreateUserRequest) { r.User.Password = "" }, "user.password"},
		{"short password", func(r *userv1.CreateUserRequest) { r.User.Password = "seven77" }, "user.password"},
		{"long password", func(r *userv1.CreateUserRequest) { r.User.Password = strings.Repeat("p", 129) }, "user.password"},
		{"password of spaces", func(r *userv1.CreateUserRequest) { r.User.Password = strings.Repeat(" ", 12) }, "user.password"},
		{"password with NUL", func(r *userv1.CreateUserRequest) { r.User.Password = "abcdefgh\x00" }, "user.password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &userv1.CreateUserRequest{User: newUser("ada")}
			tt.edit(r)
			_, err := e.users.CreateUser(context.Background(), r)
			wantCode(t, err, codes.InvalidArgument)
			if msg := status.Convert(err).Message(); !strings.HasPrefix(msg, tt.field+":") {
				t.Fatalf("message %q does not start with %s", msg, tt.field)
			}
		})
	}
	if n := e.billing.accountCount(); n != 0 {
		t.Fatalf("bad requests opened %d accounts", n)
	}
}

func TestCreateUser_UsernameOrEmailTaken(t *testing.T) {
	e := newEnv(t)
	e.create(t, "ada")
	sameName := newUser("ada")
	sameName.Email = "other@example.com"
	_, err := e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: sameName})
	wantCode(t, err, codes.AlreadyExists)
	if grpcstatus.ReasonOf(err) != "USERNAME_TAKEN" || !strings.Contains(err.Error(), `username "ada" is taken`) {
		t.Fatalf("err = %v (reason %q)", err, grpcstatus.ReasonOf(err))
	}
	sameEmail := newUser("bob")
	sameEmail.Email = "Ada@EXAMPLE.com"
	_, err = e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: sameEmail})
	wantCode(t, err, codes.AlreadyExists)
	if grpcstatus.ReasonOf(err) != "EMAIL_TAKEN" {
		t.Fatalf("reason = %q, want EMAIL_TAKEN", grpcstatus.ReasonOf(err))
	}
	if n := e.billing.accountCount(); n != 1 {
		t.Fatalf("accounts = %d, want 1", n)
	}
}

func TestCreateUser_SameRequestID_SameUserOneAccount(t *testing.T) {
	e := newEnv(t)
	req := &userv1.CreateUserRequest{User: newUser("ada"), RequestId: "signup-1"}
	first, err := e.users.CreateUser(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.users.CreateUser(context.Background(), req)
	if err != nil || !proto.Equal(first, again) {
		t.Fatalf("retry = %v, %v; want %v", again, err, first)
	}
	if calls := e.billing.calls(first.GetId()); calls != 1 {
		t.Fatalf("CreateAccount calls = %d, want 1", calls)
	}
}

func TestCreateUser_SameRequestIDOtherUser_AlreadyExists(t *testing.T) {
	e := newEnv(t)
	if _, err := e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: newUser("ada"), RequestId: "signup-1"}); err != nil {
		t.Fatal(err)
	}
	other := newUser("ada")
	other.FirstName = "Augusta"
	_, err := e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: other, RequestId: "signup-1"})
	wantCode(t, err, codes.AlreadyExists)
	if grpcstatus.ReasonOf(err) != "REQUEST_ID_REUSED" {
		t.Fatalf("reason = %q, want REQUEST_ID_REUSED", grpcstatus.ReasonOf(err))
	}
}

func TestCreateUser_BillingFailsOnce_RetryWithSameRequestIDCompletes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.billing.setFailCreate(1)
	req := &userv1.CreateUserRequest{User: newUser("ada"), RequestId: "signup-1"}
	_, err := e.users.CreateUser(ctx, req)
	wantCode(t, err, codes.Unavailable)
	if grpcstatus.ReasonOf(err) != "ACCOUNT_PENDING" || !strings.Contains(err.Error(), "retry with the same request_id") {
		t.Fatalf("err = %v", err)
	}
	// The pending user is saved (and listed) but has no account yet.
	list, err := e.users.ListUsers(ctx, &userv1.ListUsersRequest{})
	if err != nil || len(e.others(list.GetUsers())) != 1 {
		t.Fatalf("ListUsers = %v, %v; want the pending user", list, err)
	}
	pending := e.others(list.GetUsers())[0]
	if e.billing.account(pending.GetId()) != nil {
		t.Fatal("account exists after the failed call")
	}
	u, err := e.users.CreateUser(ctx, req)
	if err != nil || u.GetId() != pending.GetId() {
		t.Fatalf("retry = %v, %v; want user %s", u, err, pending.GetId())
	}
	if e.billing.account(u.GetId()) == nil || e.billing.accountCount() != 1 {
		t.Fatal("retry did not open exactly one account")
	}
	if calls := e.billing.calls(u.GetId()); calls != 2 {
		t.Fatalf("CreateAccount calls = %d, want 2 (one failed, one succeeded)", calls)
	}
	// Once ready, further retries do not call billing again.
	if _, err := e.users.CreateUser(ctx, req); err != nil || e.billing.calls(u.GetId()) != 2 {
		t.Fatalf("third call: %v, calls %d", err, e.billing.calls(u.GetId()))
	}
}

func TestRepair_OpensAccountOfAbandonedUser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.billing.setFailCreate(1)
	_, err := e.users.CreateUser(ctx, &userv1.CreateUserRequest{User: newUser("ada")})
	wantCode(t, err, codes.Unavailable)
	list, err := e.users.ListUsers(ctx, &userv1.ListUsersRequest{})
	if err != nil || len(e.others(list.GetUsers())) != 1 {
		t.Fatal(list, err)
	}
	id := e.others(list.GetUsers())[0].GetId()
	rep, err := e.app.Repair(ctx)
	if err != nil || rep.Finished != 1 {
		t.Fatalf("Repair = %+v, %v; want 1 finished", rep, err)
	}
	if a := e.billing.account(id); a == nil || a.GetCurrency() != "USD" {
		t.Fatalf("account after repair = %v", a)
	}
	if rep, err := e.app.Repair(ctx); err != nil || rep.Finished != 0 || e.billing.calls(id) != 2 {
		t.Fatalf("second pass = %+v, %v, calls %d; want nothing done", rep, err, e.billing.calls(id))
	}
}

func TestCreateUser_ConcurrentSameUsername_ExactlyOneSucceeds(t *testing.T) {
	e := newEnv(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := newUser("ada")
			u.Email = fmt.Sprintf("ada%d@example.com", i)
			_, errs[i] = e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: u, RequestId: uuid.NewString()})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.AlreadyExists:
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 || e.billing.accountCount() != 1 {
		t.Fatalf("%d succeeded, %d accounts; want 1 and 1", ok, e.billing.accountCount())
	}
}

func TestCreateUser_ConcurrentSameRequestID_OneUserOneAccount(t *testing.T) {
	e := newEnv(t)
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u, err := e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: newUser("ada"), RequestId: "same"})
			ids[i], errs[i] = u.GetId(), err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: %q, %v; want user %q", i, ids[i], errs[i], ids[0])
		}
	}
	if e.billing.accountCount() != 1 {
		t.Fatalf("accounts = %d, want 1", e.billing.accountCount())
	}
}
