package grpcserver_test

import (
	"context"
	"crypto/sha256"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/grpcserver"
	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/peers"
	"github.com/kassa-dev/kassa/services/user/postgres"
	"github.com/kassa-dev/kassa/services/user/token"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	testIssuer   = "http://kassa.test"
	testAudience = "kassa"
	goodPassword = "correct horse battery"
)

type authEnv struct {
	users userv1.UserServiceClient // carries no token of its own
	auth  userv1.AuthServiceClient
	keys  *keys.Set
	db    *sqlx.DB
}

// newAuthEnv serves UserService and AuthService on one database, with a
// fresh signing key; opts.Issuer is filled in unless noKeys. The access
// checks are enforced by a Verifier that fetches the service's own public
// key set over HTTP, as -auth-jwks-url points it at the admin listener, so
// the tokens Login issues are the ones UserService accepts.
func newAuthEnv(t *testing.T, opts app.AuthConfig, noKeys bool) authEnv {
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
	if !noKeys {
		opts.Issuer, err = token.New(token.Config{Keys: ks, Issuer: testIssuer, Audience: testAudience, TTL: 15 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
	}
	a := app.NewAuth(store, opts)
	jwks := httptest.NewServer(ks.Handler())
	t.Cleanup(jwks.Close)
	v, err := auth.NewVerifier(context.Background(), auth.VerifierOptions{
		Issuers: []auth.Issuer{{Issuer: testIssuer, Audience: testAudience, JWKSURL: jwks.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	conn := authtest.Serve(t, v, grpcserver.Rules, func(s *grpc.Server) {
		userv1.RegisterUserServiceServer(s, grpcserver.New(svc))
		userv1.RegisterAuthServiceServer(s, grpcserver.NewAuth(a))
		userv1.RegisterUserAdminServiceServer(s, grpcserver.NewAdmin(svc))
	})
	return authEnv{users: userv1.NewUserServiceClient(conn), auth: userv1.NewAuthServiceClient(conn), keys: ks, db: db}
}

func (e authEnv) register(t *testing.T, name, pw string) *userv1.User {
	t.Helper()
	in := newUser(name)
	in.Password = pw
	u, err := e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: in, RequestId: uuid.NewString()})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// deleteAsSelf logs in as name and deletes that user with the access token.
func (e authEnv) deleteAsSelf(t *testing.T, name string, u *userv1.User) *userv1.TokenResponse {
	t.Helper()
	s, err := e.login(name, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.DeleteUser(context.Background(), &userv1.DeleteUserRequest{Id: u.GetId()}, authtest.Bearer(s.GetAccessToken())); err != nil {
		t.Fatal(err)
	}
	return s
}

func (e authEnv) login(login, pw string) (*userv1.TokenResponse, error) {
	return e.auth.Login(context.Background(), &userv1.LoginRequest{Username: login, Password: pw})
}

// claims verifies an access token as another service would: against the
// public key set, issuer and audience.
func (e authEnv) claims(t *testing.T, access string) jwt.Token {
	t.Helper()
	pub, err := jwk.Parse(e.keys.PublicJSON())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse([]byte(access), jwt.WithKeySet(pub), jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience))
	if err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	return tok
}

func roles(t *testing.T, tok jwt.Token) []string {
	t.Helper()
	var raw []any
	if err := tok.Get("roles", &raw); err != nil {
		t.Fatalf("roles claim: %v", err)
	}
	var r []string
	for _, v := range raw {
		s, _ := v.(string)
		r = append(r, s)
	}
	return r
}

func wantRefused(t *testing.T, err error, code codes.Code, msg, reason string) {
	t.Helper()
	wantCode(t, err, code)
	if got := status.Convert(err).Message(); got != msg || grpcstatus.ReasonOf(err) != reason {
		t.Fatalf("err = %q (reason %q), want %q (%s)", got, grpcstatus.ReasonOf(err), msg, reason)
	}
}

func TestLogin_OK(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	ada := e.register(t, "ada", goodPassword)
	root := e.register(t, "root", goodPassword)
	e.setAdmin(t, "root", true)
	tests := []struct {
		name, login string
		sub         string
		roles       []string
	}{
		{"by username", "ada", ada.GetId(), []string{"customer"}},
		{"by email in other case", "ADA@example.com", ada.GetId(), []string{"customer"}},
		{"granted admin", "root", root.GetId(), []string{"customer", "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.login(tt.login, goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTokenType() != "Bearer" || resp.GetExpiresIn() != 900 || resp.GetRefreshToken() == "" {
				t.Fatalf("response %v", resp)
			}
			tok := e.claims(t, resp.GetAccessToken())
			if sub, _ := tok.Subject(); sub != tt.sub {
				t.Fatalf("sub = %q, want %q", sub, tt.sub)
			}
			if got := roles(t, tok); !slices.Equal(got, tt.roles) {
				t.Fatalf("roles = %v, want %v", got, tt.roles)
			}
		})
	}
}

// Every refusal reads the same, so a client cannot learn which usernames
// exist or which have a password.
func TestLogin_Refused_SameAnswer(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	e.register(t, "ada", goodPassword)
	e.deleteAsSelf(t, "gone", e.register(t, "gone", goodPassword))
	// A user from before passwords (registration requires one now).
	if _, err := e.db.Exec(`INSERT INTO users (username, email, account_ready) VALUES ('nopass', 'nopass@example.com', true)`); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, login, pw string }{
		{"wrong password", "ada", "correct horse battery!"},
		{"unknown user", "nobody", goodPassword},
		{"deleted user", "gone", goodPassword},
		{"no password set", "nopass", goodPassword},
		{"empty-password user with a guess", "nopass", "12345678"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.login(tt.login, tt.pw)
			wantRefused(t, err, codes.Unauthenticated, "invalid username or password", "INVALID_CREDENTIALS")
		})
	}
	_, err := e.login("", goodPassword)
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.login("ada", "")
	wantCode(t, err, codes.InvalidArgument)
}

func TestLogin_NoSigningKeys_FailedPrecondition(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, true)
	e.register(t, "ada", goodPassword)
	_, err := e.login("ada", goodPassword)
	wantRefused(t, err, codes.FailedPrecondition, "signing keys are not configured", "AUTH_NOT_CONFIGURED")
	_, err = e.auth.Token(context.Background(), &userv1.TokenRequest{GrantType: "client_credentials", ClientId: "order", ClientSecret: "x"})
	wantCode(t, err, codes.FailedPrecondition)
}

func (e authEnv) refresh(rt string) (*userv1.TokenResponse, error) {
	return e.auth.Refresh(context.Background(), &userv1.RefreshRequest{RefreshToken: rt})
}

func TestRefresh_RotatesAndReuseRevokesFamily(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	ada := e.register(t, "ada", goodPassword)
	first, err := e.login("ada", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.login("ada", goodPassword) // a second session of the same user
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.refresh(first.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	if second.GetRefreshToken() == first.GetRefreshToken() || second.GetAccessToken() == first.GetAccessToken() {
		t.Fatal("refresh did not rotate")
	}
	if sub, _ := e.claims(t, second.GetAccessToken()).Subject(); sub != ada.GetId() {
		t.Fatalf("refreshed sub = %q", sub)
	}
	// Only hashes are stored.
	var stored [][]byte
	if err := e.db.Select(&stored, `SELECT token_hash FROM refresh_tokens`); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(first.GetRefreshToken()))
	if len(stored) != 3 || !slices.ContainsFunc(stored, func(b []byte) bool { return string(b) == string(h[:]) }) {
		t.Fatalf("stored %d token hashes, want 3 including sha256 of the first", len(stored))
	}

	// The used token again: refused, and the family's live token dies with it.
	_, err = e.refresh(first.GetRefreshToken())
	wantRefused(t, err, codes.Unauthenticated, user.ErrBadRefresh.Message, "INVALID_REFRESH_TOKEN")
	_, err = e.refresh(second.GetRefreshToken())
	wantRefused(t, err, codes.Unauthenticated, user.ErrBadRefresh.Message, "INVALID_REFRESH_TOKEN")
	var reason string
	if err := e.db.Get(&reason, `SELECT f.revoke_reason FROM refresh_families f JOIN refresh_tokens t ON t.family_id = f.id WHERE t.token_hash = $1`, h[:]); err != nil || reason != "reuse" {
		t.Fatalf("family revoke_reason = %q, %v; want reuse", reason, err)
	}
	// The other session is untouched.
	if _, err := e.refresh(other.GetRefreshToken()); err != nil {
		t.Fatalf("refresh of another session: %v", err)
	}
	for _, bad := range []string{"not-a-token", strings.Repeat("A", 43)} {
		_, err := e.refresh(bad)
		wantCode(t, err, codes.Unauthenticated)
	}
	_, err = e.refresh("")
	wantCode(t, err, codes.InvalidArgument)
}

func TestRefresh_DeletedUser_Refused(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	ada := e.register(t, "ada", goodPassword)
	s, err := e.login("ada", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	last := e.deleteAsSelf(t, "ada", ada)
	_, err = e.refresh(s.GetRefreshToken())
	wantCode(t, err, codes.Unauthenticated)
	_, err = e.login("ada", goodPassword)
	wantCode(t, err, codes.Unauthenticated)
	// The access tokens issued before the delete have not expired, but the
	// user service refuses them at once, on every call that takes one.
	for _, tok := range []string{s.GetAccessToken(), last.GetAccessToken()} {
		_, err = e.users.GetUser(context.Background(), &userv1.GetUserRequest{Id: ada.GetId()}, authtest.Bearer(tok))
		wantCallerGone(t, err)
		_, err = e.users.UpdateUser(context.Background(), &userv1.UpdateUserRequest{User: &userv1.User{Id: ada.GetId(), LastName: "X"}}, authtest.Bearer(tok))
		wantCallerGone(t, err)
	}
}

// A token Login issued is accepted for the user's own record and refused
// for another user's, which answers as a missing one.
func TestLogin_AccessToken_OwnRecordOnly(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	ada := e.register(t, "ada", goodPassword)
	bob := e.register(t, "bob", goodPassword)
	s, err := e.login("ada", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	as := authtest.Bearer(s.GetAccessToken())
	if got, err := e.users.GetUser(context.Background(), &userv1.GetUserRequest{Id: ada.GetId()}, as); err != nil || got.GetId() != ada.GetId() {
		t.Fatalf("own GetUser = %v, %v", got, err)
	}
	_, err = e.users.GetUser(context.Background(), &userv1.GetUserRequest{Id: bob.GetId()}, as)
	wantRefused(t, err, codes.NotFound, "user not found", "USER_NOT_FOUND")
	_, err = e.users.ListUsers(context.Background(), &userv1.ListUsersRequest{}, as)
	wantCode(t, err, codes.PermissionDenied)
}

func TestLogout_RevokesFamily(t *testing.T) {
	e := newAuthEnv(t, app.AuthConfig{}, false)
	e.register(t, "ada", goodPassword)
	first, err := e.login("ada", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.refresh(first.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // logging out twice is fine
		if _, err := e.auth.Logout(context.Background(), &userv1.LogoutRequest{RefreshToken: first.GetRefreshToken()}); err != nil {
			t.Fatalf("Logout: %v", err)
		}
	}
	_, err = e.refresh(second.GetRefreshToken())
	wantCode(t, err, codes.Unauthenticated)
	var reason string
	if err := e.db.Get(&reason, `SELECT revoke_reason FROM refresh_families`); err != nil || reason != "logout" {
		t.Fatalf("revoke_reason = %q, %v; want logout", reason, err)
	}
	_, err = e.auth.Logout(context.Background(), &userv1.LogoutRequest{})
	wantCode(t, err, codes.InvalidArgument)
}

func TestLogin_BruteForce_LockedUntilDelay_RightPasswordRefused(t *testing.T) {
	const base = 400 * time.Millisecond
	e := newAuthEnv(t, app.AuthConfig{Lock: user.LockPolicy{MaxFailures: 3, Base: base, Max: 10 * time.Second}}, false)
	e.register(t, "ada", goodPassword)
	e.register(t, "bob", goodPassword)
	// lockedAt is taken before the failure that locks (the last): the
	// lock runs from that call's database time, which is no earlier, so
	// no login may succeed sooner than base after it. Taken after the
	// call returned, it lagged the lock by the call's tail (57 ms once, on
	// a busy machine) and the check below failed a correct lock.
	var lockedAt time.Time
	for range 3 {
		lockedAt = time.Now()
		_, err := e.login("ada", "wrong password")
		wantRefused(t, err, codes.Unauthenticated, "invalid username or password", "INVALID_CREDENTIALS")
	}
	_, err := e.login("ada", goodPassword)
	wantCode(t, err, codes.ResourceExhausted)
	st := status.Convert(err)
	if grpcstatus.ReasonOf(err) != "LOGIN_LOCKED" || !strings.Contains(st.Message(), "try again after ") {
		t.Fatalf("locked answer %q (%s)", st.Message(), grpcstatus.ReasonOf(err))
	}
	if d := retryDelay(st); d < time.Second || d > 2*time.Second {
		t.Fatalf("RetryInfo delay = %v, want the lock rounded up to whole seconds", d)
	}
	// The lock is per account: bob logs in.
	if _, err := e.login("bob", goodPassword); err != nil {
		t.Fatalf("another account: %v", err)
	}

	// Poll with the right password: refused as locked until the delay has
	// passed, then let in.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.login("ada", goodPassword)
		if err == nil {
			break
		}
		wantCode(t, err, codes.ResourceExhausted)
		if time.Now().After(deadline) {
			t.Fatal("still locked at the deadline")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if waited := time.Since(lockedAt); waited < base-50*time.Millisecond {
		t.Fatalf("let in after %v, before the %v lock passed", waited, base)
	}

	// The success cleared the count: three more failures before a lock,
	// then the lock grows with each failure past the limit.
	var failed int
	if err := e.db.Get(&failed, `SELECT failed_logins FROM users WHERE username = 'ada'`); err != nil || failed != 0 {
		t.Fatalf("failed_logins = %d, %v; want 0 after a login", failed, err)
	}
	for range 3 {
		_, err := e.login("ada", "wrong password")
		wantCode(t, err, codes.Unauthenticated)
	}
	var first time.Duration
	for n := 4; n <= 5; n++ {
		var lock time.Duration
		waitUntilUnlocked(t, e, deadline)
		_, err := e.login("ada", "wrong password")
		wantCode(t, err, codes.Unauthenticated)
		if err := e.db.Get(&lock, `SELECT (extract(epoch FROM login_locked_until - now()) * 1e9)::bigint FROM users WHERE username = 'ada'`); err != nil {
			t.Fatal(err)
		}
		if n == 4 {
			first = lock
			if lock < base || lock > 2*base+100*time.Millisecond {
				t.Fatalf("lock after failure 4 = %v, want about %v", lock, 2*base)
			}
		} else if lock < first+base/2 {
			t.Fatalf("lock after failure 5 = %v, not longer than %v", lock, first)
		}
	}
}

// waitUntilUnlocked polls the stored lock (not the API, which would count
// attempts) until it has passed.
func waitUntilUnlocked(t *testing.T, e authEnv, deadline time.Time) {
	t.Helper()
	for {
		var locked bool
		if err := e.db.Get(&locked, `SELECT coalesce(login_locked_until > now(), false) FROM users WHERE username = 'ada'`); err != nil {
			t.Fatal(err)
		}
		if !locked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("still locked at the deadline")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

func TestToken_ClientCredentials(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	clients, err := app.ParseClients("order=" + app.SecretHash(secret) + ",billing=" + app.SecretHash("other"))
	if err != nil {
		t.Fatal(err)
	}
	e := newAuthEnv(t, app.AuthConfig{Clients: clients}, false)
	resp, err := e.auth.Token(context.Background(), &userv1.TokenRequest{GrantType: "client_credentials", ClientId: "order", ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTokenType() != "Bearer" || resp.GetRefreshToken() != "" || resp.GetExpiresIn() != 900 {
		t.Fatalf("response %v", resp)
	}
	tok := e.claims(t, resp.GetAccessToken())
	var clientID string
	if sub, _ := tok.Subject(); sub != "service:order" || tok.Get("client_id", &clientID) != nil || clientID != "order" {
		t.Fatalf("service token sub %v client_id %q", sub, clientID)
	}
	if got := roles(t, tok); !slices.Equal(got, []string{"service"}) {
		t.Fatalf("roles = %v", got)
	}
	tests := []struct {
		name string
		req  *userv1.TokenRequest
		code codes.Code
	}{
		{"wrong secret", &userv1.TokenRequest{GrantType: "client_credentials", ClientId: "order", ClientSecret: "other"}, codes.Unauthenticated},
		{"unknown client", &userv1.TokenRequest{GrantType: "client_credentials", ClientId: "notification", ClientSecret: secret}, codes.Unauthenticated},
		{"another client's secret", &userv1.TokenRequest{GrantType: "client_credentials", ClientId: "billing", ClientSecret: secret}, codes.Unauthenticated},
		{"password grant", &userv1.TokenRequest{GrantType: "password", ClientId: "order", ClientSecret: secret}, codes.InvalidArgument},
		{"no secret", &userv1.TokenRequest{GrantType: "client_credentials", ClientId: "order"}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.auth.Token(context.Background(), tt.req)
			wantCode(t, err, tt.code)
			if tt.code == codes.Unauthenticated && status.Convert(err).Message() != "invalid client credentials" {
				t.Fatalf("message %q", status.Convert(err).Message())
			}
		})
	}
}
