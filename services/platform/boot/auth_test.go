package boot_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/freeport"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// whoami answers with the caller's principal.
var whoamiDesc = grpc.ServiceDesc{
	ServiceName: "test.Whoami",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Get", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := &emptypb.Empty{}
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, _ any) (any, error) {
			p, _ := auth.FromContext(ctx)
			return wrapperspb.String(p.String()), nil
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/test.Whoami/Get"}, h)
	}}},
}

func registerWhoami(s grpc.ServiceRegistrar) { s.RegisterService(&whoamiDesc, struct{}{}) }

// registerWhoamiOn is registerWhoami for the test servers of authtest.
func registerWhoamiOn(s *grpc.Server) { registerWhoami(s) }

func whoami(ctx context.Context, conn grpc.ClientConnInterface, opts ...grpc.CallOption) (string, error) {
	var out wrapperspb.StringValue
	err := conn.Invoke(ctx, "/test.Whoami/Get", &emptypb.Empty{}, &out, opts...)
	return out.GetValue(), err
}

// runSpec starts s with the listen, admin and database flags plus args and
// waits until it serves; it returns the gRPC address, the admin URL and the
// log.
func runSpec(t *testing.T, s boot.Spec, args ...string) (string, string, *syncBuffer) {
	t.Helper()
	db := pgtest.NewDB(t, nil)
	addr, admin := freeport.TestAddr(t), freeport.TestAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- boot.Run(ctx, s, append([]string{"test", "-listen", addr, "-admin-listen", admin, "-database-url", pgtest.URL(t, db)}, args...),
			func(string) string { return "" }, out)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v\n%s", err, out.String())
		}
	})
	conn, err := rpcclient.Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("health: %v\n%s", err, out.String())
	}
	return addr, "http://" + admin, out
}

func issuerFlags(iss *authtest.Issuer) []string {
	return []string{"-auth-issuer", iss.URL, "-auth-jwks-url", iss.JWKSURL}
}

func TestRun_Auth_EnforcedWhenSpecHasRules(t *testing.T) {
	iss := authtest.NewIssuer(t)
	s := spec(func(_ context.Context, d *boot.Deps) error { registerWhoami(d.Server); return nil })
	s.Auth = map[string]auth.Rule{"/test.Whoami/Get": auth.Customer}
	addr, _, _ := runSpec(t, s, issuerFlags(iss)...)
	conn, err := rpcclient.Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	user := authtest.NewUserID()
	tests := []struct {
		name string
		opts []grpc.CallOption
		code codes.Code
		who  string
	}{
		{"no token", nil, codes.Unauthenticated, ""},
		{"expired token", []grpc.CallOption{authtest.Bearer(iss.Customer(t, user, authtest.Expired()))}, codes.Unauthenticated, ""},
		{"service, not allowed", []grpc.CallOption{authtest.Bearer(iss.Service(t, "order"))}, codes.PermissionDenied, ""},
		{"customer", []grpc.CallOption{authtest.Bearer(iss.Customer(t, user))}, codes.OK, "user:" + user},
	}
	for _, tt := range tests {
		who, err := whoami(context.Background(), conn, tt.opts...)
		if status.Code(err) != tt.code || who != tt.who {
			t.Errorf("%s: %q, %v; want %v %q", tt.name, who, err, tt.code, tt.who)
		}
	}
}

func TestRun_Auth_NilSpec_NotEnforcedAndSaysSo(t *testing.T) {
	s := spec(func(_ context.Context, d *boot.Deps) error { registerWhoami(d.Server); return nil })
	addr, _, out := runSpec(t, s)
	conn, err := rpcclient.Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if who, err := whoami(context.Background(), conn); err != nil || who != "anonymous" {
		t.Errorf("call without a token to a service without rules = %q, %v", who, err)
	}
	if !strings.Contains(out.String(), "access checks not enforced") {
		t.Errorf("no log line saying access is not enforced:\n%s", out.String())
	}
}

func TestRun_Auth_MethodWithoutRule_RefusesToStart(t *testing.T) {
	db := pgtest.NewDB(t, nil)
	s := spec(func(_ context.Context, d *boot.Deps) error { registerWhoami(d.Server); return nil })
	s.Auth = map[string]auth.Rule{}
	var out syncBuffer
	err := boot.Run(context.Background(), s, []string{"test", "-listen", "127.0.0.1:0", "-admin-listen", "", "-database-url", pgtest.URL(t, db)},
		func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "/test.Whoami/Get") {
		t.Errorf("Run = %v, want an error naming the method without a rule", err)
	}
}

func TestRun_Auth_BadSetting_NamesIt(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-auth-issuer", "nowhere"}, "AUTH_ISSUER"},
		{[]string{"-auth-external-issuer", "https://idp.example"}, "AUTH_EXTERNAL_AUDIENCE"},
		{[]string{"-auth-client-secret-file", "/nonexistent/secret"}, "AUTH_CLIENT_SECRET_FILE"},
	}
	for _, tt := range tests {
		var out syncBuffer
		err := boot.Run(context.Background(), spec(nil), append([]string{"test", "-database-url", "postgres://x/y"}, tt.args...),
			func(string) string { return "" }, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%v) = %v; want an error naming %s", tt.args, err, tt.want)
		}
	}
}

// Peer calls carry the token of UsePeerTokens: a guarded peer sees the
// service identity.
func TestRun_PeerTokens_PeerSeesTheServiceIdentity(t *testing.T) {
	iss := authtest.NewIssuer(t)
	peer := authtest.Serve(t, iss.Verifier(t), map[string]auth.Rule{"/test.Whoami/Get": auth.Services("test")}, registerWhoamiOn)
	peerAddr := peer.Target()
	got := make(chan string, 2)
	s := spec(func(ctx context.Context, d *boot.Deps) error {
		before, err := whoami(ctx, d.Peers["billing"])
		got <- status.Code(err).String() + " " + before
		d.UsePeerTokens(authtest.StaticTokenSource(iss.Service(t, "test")))
		after, err := whoami(ctx, d.Peers["billing"])
		got <- status.Code(err).String() + " " + after
		return nil
	})
	s.Peers = []boot.Peer{{Name: "billing", Addr: peerAddr}}
	runSpec(t, s)
	if before := <-got; before != "Unauthenticated " {
		t.Errorf("peer call before UsePeerTokens = %q, want Unauthenticated", before)
	}
	if after := <-got; after != "OK service:test" {
		t.Errorf("peer call with peer tokens = %q, want OK service:test", after)
	}
}

func TestRun_AdminMux_ServesExtraHandlers(t *testing.T) {
	s := spec(func(_ context.Context, d *boot.Deps) error {
		d.Admin.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"keys":[]}`)
		})
		return nil
	})
	_, admin, _ := runSpec(t, s)
	if code, body := httpGet(t, admin+"/.well-known/jwks.json"); code != 200 || body != `{"keys":[]}` {
		t.Errorf("extra admin handler = %d %q", code, body)
	}
	if code, body := httpGet(t, admin+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics next to an extra handler = %d", code)
	}
	if code, _ := httpGet(t, admin+"/nothing-here"); code != http.StatusNotFound {
		t.Errorf("unknown admin path = %d, want 404", code)
	}
}
