package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// whoami is a hand-written service whose methods answer with the caller's
// Principal, one method per kind of rule.
var whoamiDesc = grpc.ServiceDesc{
	ServiceName: "test.Whoami",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Public", Handler: whoamiHandler},
		{MethodName: "Customer", Handler: whoamiHandler},
		{MethodName: "Admin", Handler: whoamiHandler},
		{MethodName: "Order", Handler: whoamiHandler},
		{MethodName: "CustomerOrOrder", Handler: whoamiHandler},
		{MethodName: "NoRule", Handler: whoamiHandler},
	},
	Streams: []grpc.StreamDesc{{StreamName: "Watch", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
		var in emptypb.Empty
		if err := ss.RecvMsg(&in); err != nil {
			return err
		}
		return ss.SendMsg(wrapperspb.String(caller(ss.Context())))
	}}},
}

func caller(ctx context.Context) string {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return "none"
	}
	return p.String()
}

func whoamiHandler(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
	var in emptypb.Empty
	if err := dec(&in); err != nil {
		return nil, err
	}
	h := func(ctx context.Context, _ any) (any, error) { return wrapperspb.String(caller(ctx)), nil }
	if ic == nil {
		return h(ctx, &in)
	}
	return ic(ctx, &in, &grpc.UnaryServerInfo{FullMethod: "/test.Whoami/?"}, h)
}

var whoamiRules = map[string]auth.Rule{
	"/test.Whoami/Public":          auth.Public,
	"/test.Whoami/Customer":        auth.Customer,
	"/test.Whoami/Admin":           auth.Admin,
	"/test.Whoami/Order":           auth.Services("order"),
	"/test.Whoami/CustomerOrOrder": auth.AnyOf(auth.Customer, auth.Services("order")),
	"/test.Whoami/Watch":           auth.Customer,
}

func serveWhoami(t *testing.T) (*grpc.ClientConn, *authtest.Issuer) {
	t.Helper()
	iss := authtest.NewIssuer(t)
	v := iss.Verifier(t)
	conn := authtest.Serve(t, v, whoamiRules, func(s *grpc.Server) { s.RegisterService(&whoamiDesc, struct{}{}) })
	return conn, iss
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == apperr.Domain {
			return info.Reason
		}
	}
	return ""
}

func TestInterceptor_RulesByIdentity(t *testing.T) {
	conn, iss := serveWhoami(t)
	user := authtest.NewUserID()
	idents := []struct {
		name  string
		token string
		who   string
	}{
		{"no token", "", "none"},
		{"bad token", iss.Customer(t, user, authtest.Expired()), ""},
		{"customer", iss.Customer(t, user), "user:" + user},
		{"admin", iss.Admin(t, user), "user:" + user},
		{"service order", iss.Service(t, "order"), "service:order"},
		{"service notification", iss.Service(t, "notification"), "service:notification"},
	}
	const (
		ok     = codes.OK
		unauth = codes.Unauthenticated
		denied = codes.PermissionDenied
	)
	// One row per method, one column per identity in the order above.
	table := []struct {
		method string
		want   [6]codes.Code
	}{
		{"Public", [6]codes.Code{ok, ok, ok, ok, ok, ok}},
		{"Customer", [6]codes.Code{unauth, unauth, ok, ok, denied, denied}},
		{"Admin", [6]codes.Code{unauth, unauth, denied, ok, denied, denied}},
		{"Order", [6]codes.Code{unauth, unauth, denied, denied, ok, denied}},
		{"CustomerOrOrder", [6]codes.Code{unauth, unauth, ok, ok, ok, denied}},
		{"NoRule", [6]codes.Code{denied, denied, denied, denied, denied, denied}},
	}
	for _, row := range table {
		for i, id := range idents {
			t.Run(row.method+"/"+id.name, func(t *testing.T) {
				var opts []grpc.CallOption
				if id.token != "" {
					opts = append(opts, authtest.Bearer(id.token))
				}
				var out wrapperspb.StringValue
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err := conn.Invoke(ctx, "/test.Whoami/"+row.method, &emptypb.Empty{}, &out, opts...)
				if got := status.Code(err); got != row.want[i] {
					t.Fatalf("code = %v (%v), want %v", got, err, row.want[i])
				}
				switch {
				case err == nil && row.method != "Public" && out.GetValue() != id.who:
					t.Errorf("handler saw %q, want %q", out.GetValue(), id.who)
				case err == nil && row.method == "Public" && out.GetValue() != "none":
					t.Errorf("public method saw principal %q; it checks no token", out.GetValue())
				case status.Code(err) == unauth:
					if msg := status.Convert(err).Message(); msg != auth.PublicMessage || (id.token != "" && strings.Contains(msg, id.token)) {
						t.Errorf("message %q, want %q", msg, auth.PublicMessage)
					}
					want := auth.ReasonInvalidToken
					if id.token == "" {
						want = auth.ReasonUnauthenticated
					}
					if got := reasonOf(err); got != want {
						t.Errorf("ErrorInfo reason %q, want %q", got, want)
					}
				case status.Code(err) == denied && reasonOf(err) != auth.ReasonPermissionDenied:
					t.Errorf("ErrorInfo reason %q, want %q", reasonOf(err), auth.ReasonPermissionDenied)
				}
			})
		}
	}
}

// Every bad-token case is UNAUTHENTICATED/INVALID_TOKEN with the same
// message over the wire.
func TestInterceptor_BadTokens_AllUnauthenticatedAlike(t *testing.T) {
	conn, iss := serveWhoami(t)
	for _, bt := range iss.BadTokens(t, nil) {
		t.Run(bt.Name, func(t *testing.T) {
			var opts []grpc.CallOption
			if bt.Token != "" {
				opts = append(opts, authtest.Bearer(bt.Token))
			}
			err := conn.Invoke(context.Background(), "/test.Whoami/Customer", &emptypb.Empty{}, &wrapperspb.StringValue{}, opts...)
			if status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != auth.PublicMessage {
				t.Errorf("got %v, want UNAUTHENTICATED %q", err, auth.PublicMessage)
			}
		})
	}
	err := conn.Invoke(context.Background(), "/test.Whoami/Customer", &emptypb.Empty{}, &wrapperspb.StringValue{},
		grpc.PerRPCCredentials(basicCreds{}))
	if status.Code(err) != codes.Unauthenticated || reasonOf(err) != auth.ReasonInvalidToken {
		t.Errorf("Basic authorization: %v, want UNAUTHENTICATED %s", err, auth.ReasonInvalidToken)
	}
}

type basicCreds struct{}

func (basicCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Basic dXNlcjpwYXNz"}, nil
}
func (basicCreds) RequireTransportSecurity() bool { return false }

func TestInterceptor_Stream_ChecksRule(t *testing.T) {
	conn, iss := serveWhoami(t)
	user := authtest.NewUserID()
	watch := func(opts ...grpc.CallOption) (string, error) {
		st, err := conn.NewStream(context.Background(), &whoamiDesc.Streams[0], "/test.Whoami/Watch", opts...)
		if err != nil {
			return "", err
		}
		if err := st.SendMsg(&emptypb.Empty{}); err != nil {
			return "", err
		}
		if err := st.CloseSend(); err != nil {
			return "", err
		}
		var out wrapperspb.StringValue
		err = st.RecvMsg(&out)
		return out.GetValue(), err
	}
	if _, err := watch(); status.Code(err) != codes.Unauthenticated {
		t.Errorf("stream without a token: %v, want UNAUTHENTICATED", err)
	}
	if _, err := watch(authtest.Bearer(iss.Service(t, "order"))); status.Code(err) != codes.PermissionDenied {
		t.Errorf("stream as a service: %v, want PERMISSION_DENIED", err)
	}
	if who, err := watch(authtest.Bearer(iss.Customer(t, user))); err != nil || who != "user:"+user {
		t.Errorf("stream as the customer = %q, %v", who, err)
	}
}

func TestInterceptor_HealthPublic_WithoutRule(t *testing.T) {
	conn, _ := serveWhoami(t)
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "liveness"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token = %v, %v", resp, err)
	}
}

func TestCheckRules_ListsMissingAndStale(t *testing.T) {
	descs := []*grpc.ServiceDesc{&whoamiDesc}
	err := auth.CheckRules(descs, whoamiRules)
	if err == nil || !strings.Contains(err.Error(), "/test.Whoami/NoRule") || strings.Contains(err.Error(), "Customer") {
		t.Errorf("CheckRules = %v, want only NoRule named", err)
	}
	full := map[string]auth.Rule{"/test.Whoami/NoRule": auth.Admin, "/test.Whoami/Gone": auth.Admin}
	for k, v := range whoamiRules {
		full[k] = v
	}
	if err := auth.CheckRules(descs, full); err == nil || !strings.Contains(err.Error(), "/test.Whoami/Gone") {
		t.Errorf("CheckRules with a stale rule = %v, want it named", err)
	}
	delete(full, "/test.Whoami/Gone")
	if err := auth.CheckRules(descs, full); err != nil {
		t.Errorf("CheckRules with every method covered = %v", err)
	}
}

func TestOwner(t *testing.T) {
	errNotFound := errors.New("user not found")
	owner, other := authtest.NewUserID(), authtest.NewUserID()
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"the owner", authtest.AsCustomer(context.Background(), owner), nil},
		{"another customer", authtest.AsCustomer(context.Background(), other), errNotFound},
		{"an admin", authtest.AsAdmin(context.Background(), other), nil},
		{"a service", authtest.AsService(context.Background(), "order"), nil},
		{"no principal", context.Background(), errNotFound},
		{"a user without the customer role", auth.WithPrincipal(context.Background(), auth.Principal{UserID: owner}), errNotFound},
	}
	for _, tt := range tests {
		if got := auth.Owner(tt.ctx, owner, errNotFound); got != tt.want {
			t.Errorf("%s: Owner = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRule_String(t *testing.T) {
	tests := []struct {
		r    auth.Rule
		want string
	}{
		{auth.Rule{}, "nobody"},
		{auth.Public, "public"},
		{auth.AnyOf(auth.Customer, auth.Services("order", "user")), "customer|services(order,user)"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}
