package authtest

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"google.golang.org/grpc"
)

// static sends a fixed token; plaintext is fine on the loopback port.
type static string

func (s static) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(s)}, nil
}

func (static) RequireTransportSecurity() bool { return false }

// Bearer is a CallOption sending token as "authorization: Bearer" on one
// call.
func Bearer(token string) grpc.CallOption { return grpc.PerRPCCredentials(static(token)) }

// WithToken is a DialOption sending token on every call of a connection.
func WithToken(token string) grpc.DialOption { return grpc.WithPerRPCCredentials(static(token)) }

// AsCustomer returns ctx carrying the customer userID, for unit tests of
// code that reads the Principal without a server in between.
func AsCustomer(ctx context.Context, userID string) context.Context {
	return auth.WithPrincipal(ctx, auth.Principal{UserID: userID, Roles: []string{auth.RoleCustomer}})
}

// AsAdmin returns ctx carrying userID with the admin role.
func AsAdmin(ctx context.Context, userID string) context.Context {
	return auth.WithPrincipal(ctx, auth.Principal{UserID: userID, Roles: []string{auth.RoleCustomer, auth.RoleAdmin}})
}

// AsService returns ctx carrying the service identity name.
func AsService(ctx context.Context, name string) context.Context {
	return auth.WithPrincipal(ctx, auth.Principal{Service: name, Roles: []string{auth.RoleService}})
}

// Serve is grpctest.Serve with the access checks enforced: v verifies
// tokens and rules is the method table. The returned connection sends no
// token of its own: pass Bearer per call, or dial another with WithToken
// (DialOptions are appended to the connection's).
func Serve(t testing.TB, v *auth.Verifier, rules map[string]auth.Rule, register func(s *grpc.Server), dial ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	srv := rpcserver.NewWithAuth(grpctest.Log(), nil, &auth.Guard{Verifier: v, Rules: rules})
	register(srv.GRPC)
	return grpctest.Dial(t, srv, dial...)
}

// Token makes the fixed token a TokenSource too, valid for an hour.
func (s static) Token(context.Context) (string, time.Time, error) {
	return string(s), time.Now().Add(time.Hour), nil
}

// StaticTokenSource is a TokenSource that always returns token.
func StaticTokenSource(token string) auth.TokenSource { return static(token) }
