package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	signingkeys "github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/token"
	"google.golang.org/grpc/metadata"
)

// The tests act as kassa's clients do: every user registers with a
// password, logs in and sends its access token on every call, over REST
// (Authorization: Bearer) and over gRPC (authorization metadata).

// adminUsername is the account the tests make admin: it registers like
// any other user, then the stack grants it the role as an operator would
// (user grant-admin), and it logs in again to get a token carrying it.
const adminUsername = "e2e-admin"

// loginEnv gives the e2e stack a low brute-force limit, so the lock test
// needs three failures and a 2 s delay rather than five and more.
var loginEnv = []string{"LOGIN_MAX_FAILURES=3", "LOGIN_LOCK_BASE=2s", "LOGIN_LOCK_MAX=1m"}

// rateEnv lifts the gateway's per-address limit on /v1/auth/* (10/s, 20
// at once by default): every test calls from 127.0.0.1 and most log in,
// so on a fast machine the suite's logins alone outran the bucket and
// answered 429 RATE_LIMITED instead of what the tests check. The limiter
// is covered by the gateway's own tests; here it stays on, far above
// what the suite sends.
var rateEnv = []string{"RATE_AUTH_PER_ADDRESS=1000", "RATE_AUTH_PER_ADDRESS_BURST=5000",
	"RATE_PER_ADDRESS=5000", "RATE_PER_ADDRESS_BURST=20000"}

// customer is a registered user who has logged in.
type customer struct {
	id, username, email, password string
	token, refresh                string // access and refresh token of the login
}

// ctx is a context whose gRPC calls carry the customer's access token.
func (c *customer) ctx() context.Context { return withToken(context.Background(), c.token) }

// bearer is the Authorization header of the customer's REST calls.
func (c *customer) bearer() map[string]string { return bearerHeader(c.token) }

// call is call with the customer's token; header adds to it.
func (c *customer) call(t *testing.T, method, path string, body any, header map[string]string) answer {
	t.Helper()
	h := c.bearer()
	for k, v := range header {
		h[k] = v
	}
	return call(t, method, path, body, h)
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func bearerHeader(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

// testPassword is a password that meets the rules; each user gets its own.
func testPassword(id string) string { return "pw-" + id + "-long enough" }

// newCustomer registers a user through the user service's gRPC API and
// logs in there.
func newCustomer(t *testing.T, prefix string) *customer {
	t.Helper()
	id := randomID()
	return registerGRPC(t, prefix+id, "user-"+id)
}

func registerGRPC(t *testing.T, username, requestID string) *customer {
	t.Helper()
	c := &customer{username: username, email: username + "@example.com", password: testPassword(username)}
	u, err := sys.users.CreateUser(context.Background(), &userv1.CreateUserRequest{
		User:      &userv1.User{Username: c.username, Email: c.email, Password: c.password},
		RequestId: requestID,
	})
	if err != nil {
		t.Fatalf("CreateUser %s: %v", username, err)
	}
	c.id = u.GetId()
	c.loginGRPC(t)
	return c
}

func (c *customer) loginGRPC(t *testing.T) {
	t.Helper()
	resp, err := sys.auth.Login(context.Background(), &userv1.LoginRequest{Username: c.username, Password: c.password})
	if err != nil {
		t.Fatalf("Login %s: %v", c.username, err)
	}
	if resp.GetTokenType() != "Bearer" || resp.GetAccessToken() == "" || resp.GetRefreshToken() == "" {
		t.Fatalf("Login %s answered %v", c.username, resp)
	}
	c.token, c.refresh = resp.GetAccessToken(), resp.GetRefreshToken()
}

// restCustomer registers a user through the gateway and logs in there.
func restCustomer(t *testing.T, prefix string) *customer {
	t.Helper()
	id := randomID()
	c := &customer{username: prefix + id, email: prefix + id + "@example.com", password: testPassword(id)}
	u := ok(t, "register "+c.username, call(t, "POST", "/v1/users",
		map[string]any{"username": c.username, "email": c.email, "password": c.password},
		map[string]string{"Idempotency-Key": "user-" + id}))
	if c.id = str(u, "id"); c.id == "" {
		t.Fatalf("CreateUser answered without an id: %v", u)
	}
	if str(u, "password") != "" {
		t.Fatalf("CreateUser returned the password: %v", u)
	}
	c.restLogin(t)
	return c
}

func (c *customer) restLogin(t *testing.T) {
	t.Helper()
	a := ok(t, "login "+c.username, call(t, "POST", "/v1/auth/login", map[string]any{"username": c.username, "password": c.password}, nil))
	if str(a, "tokenType") != "Bearer" || str(a, "accessToken") == "" || str(a, "refreshToken") == "" {
		t.Fatalf("login %s answered %v", c.username, a)
	}
	c.token, c.refresh = str(a, "accessToken"), str(a, "refreshToken")
}

var adminOnce struct {
	sync.Mutex
	c *customer
}

// admin is the stack's admin user, registered and granted on first use.
func admin(t *testing.T) *customer {
	t.Helper()
	adminOnce.Lock()
	defer adminOnce.Unlock()
	if adminOnce.c == nil {
		c := registerGRPC(t, adminUsername, "user-"+adminUsername)
		if err := sys.stack.GrantAdmin(context.Background(), adminUsername); err != nil {
			t.Fatalf("grant admin: %v", err)
		}
		// The first login's token predates the grant.
		c.loginGRPC(t)
		adminOnce.c = c
	}
	return adminOnce.c
}

// serviceToken is an access token for the kassa service name, as the
// user service mints one: signed with the stack's signing key, sub
// "service:<name>", roles ["service"], client_id <name>. The user service
// signs its own this way; the order service gets the same shape from
// AuthService.Token.
func serviceToken(t *testing.T, name string) string {
	t.Helper()
	a, err := stackIssuer(t, nil).Service(name)
	if err != nil {
		t.Fatal(err)
	}
	return a.Token
}

// stackIssuer signs with the stack's signing key as the user service
// does; now (nil: time.Now) lets a test mint tokens of the past or future.
func stackIssuer(t *testing.T, now func() time.Time) *token.Issuer {
	t.Helper()
	ks, err := signingkeys.Load(sys.stack.SigningKeys())
	if err != nil {
		t.Fatal(err)
	}
	i, err := token.New(token.Config{Keys: ks, Issuer: sys.stack.BaseURL(), Audience: "kassa", TTL: 15 * time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// expectUnauthenticated fails unless a REST answer is the gateway's 401
// with a Bearer challenge.
func expectUnauthenticated(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status != http.StatusUnauthorized {
		t.Errorf("%s: %s; want 401", what, a)
		return
	}
	if got := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", what, got)
	}
}

func (c *customer) String() string { return fmt.Sprintf("%s (%s)", c.username, c.id) }
