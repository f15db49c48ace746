package boot_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/freeport"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// tcpProxy forwards a port to PostgreSQL; Cut closes the port and every
// connection through it (the database is gone as far as the service can
// tell) and Restore opens the same port again.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	lis    net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, addr: "127.0.0.1:0", target: target}
	p.Restore()
	t.Cleanup(p.Cut)
	return p
}

func (p *tcpProxy) Restore() {
	lis, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.lis, p.addr = lis, lis.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// queryDesc is a service whose one method reads from the database.
func queryDesc(d *boot.Deps) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "kassa.test.Query",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Call",
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.Int64Value)
				if err := dec(in); err != nil {
					return nil, err
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/kassa.test.Query/Call"}, func(ctx context.Context, req any) (any, error) {
					var n int64
					if err := pgdb.Get(ctx, d.DB, &n, `SELECT $1::bigint + 1`, req.(*wrapperspb.Int64Value).GetValue()); err != nil {
						return nil, err
					}
					return wrapperspb.Int64(n), nil
				})
			},
		}},
	}
}

// While the database is unreachable the service reports NOT_SERVING (the
// overall status and its service's name), keeps reporting liveness, and
// answers calls with UNAVAILABLE / DATABASE_UNAVAILABLE; when the database
// is back it reports SERVING again and calls succeed, without a restart.
func TestRun_Readiness_FollowsTheDatabase(t *testing.T) {
	db := pgtest.NewDB(t, nil)
	u, err := url.Parse(pgtest.URL(t, db))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newProxy(t, u.Host)
	u.Host = proxy.addr
	addr := freeport.TestAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- boot.Run(ctx, spec(func(_ context.Context, d *boot.Deps) error {
			d.Server.RegisterService(queryDesc(d), struct{}{})
			return nil
		}), []string{"test", "-listen", addr, "-admin-listen", "", "-database-url", u.String(),
			"-db-check-interval", "50ms", "-db-check-timeout", "500ms", "-db-max-conns", "3"},
			func(string) string { return "" }, &out)
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
	hc := healthpb.NewHealthClient(conn)
	call := func() error {
		return conn.Invoke(context.Background(), "/kassa.test.Query/Call", wrapperspb.Int64(41), new(wrapperspb.Int64Value), grpc.WaitForReady(true))
	}
	expect := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for _, name := range []string{"", "kassa.test.Query"} {
			pollStatus(t, hc, name, want)
		}
		pollStatus(t, hc, rpcserver.LivenessService, healthpb.HealthCheckResponse_SERVING)
	}

	expect(healthpb.HealthCheckResponse_SERVING)
	for range 3 {
		if err := call(); err != nil {
			t.Fatalf("call with the database up: %v", err)
		}
	}
	for round := range 2 {
		proxy.Cut()
		expect(healthpb.HealthCheckResponse_NOT_SERVING)
		err := call()
		if status.Code(err) != codes.Unavailable || grpcstatus.ReasonOf(err) != apperr.ReasonDatabaseUnavailable {
			t.Fatalf("round %d: call with the database gone = %v, want UNAVAILABLE DATABASE_UNAVAILABLE", round, err)
		}
		proxy.Restore()
		expect(healthpb.HealthCheckResponse_SERVING)
		// More calls than the pool has connections: none may meet a
		// connection from before the outage.
		for i := range 6 {
			if err := call(); err != nil {
				t.Fatalf("round %d: call %d after the database came back: %v", round, i, err)
			}
		}
	}
}

func pollStatus(t *testing.T, hc healthpb.HealthClient, name string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got healthpb.HealthCheckResponse_ServingStatus
	var err error
	for time.Now().Before(deadline) {
		var resp *healthpb.HealthCheckResponse
		resp, err = hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name}, grpc.WaitForReady(true))
		if got = resp.GetStatus(); err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("health %q = %v, %v; want %v within 15s", name, got, err, want)
}

// The connections a service gets to its peers retry UNAVAILABLE.
func TestRun_Peers_RetryUnavailable(t *testing.T) {
	for _, tt := range []struct {
		name         string
		noRetry      bool
		wantOK       bool
		wantAttempts int
	}{
		{"retried by default", false, true, 3},
		{"NoRetry: the first failure stands", true, false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &grpctest.Flaky{Failures: 2, Code: codes.Unavailable}
			peer := grpctest.Serve(t, f.Register)
			db := pgtest.NewDB(t, nil)
			s := spec(nil)
			s.Peers = []boot.Peer{{Name: "peer", NoRetry: tt.noRetry}}
			got := make(chan error, 1)
			s.Setup = func(ctx context.Context, d *boot.Deps) error {
				var out wrapperspb.StringValue
				got <- d.Peers["peer"].Invoke(ctx, grpctest.FlakyMethod, wrapperspb.String("k1"), &out, grpc.WaitForReady(true))
				return nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			var out syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- boot.Run(ctx, s, []string{"test", "-listen", "127.0.0.1:0", "-admin-listen", "",
					"-database-url", pgtest.URL(t, db), "-peer-addr", peer.Target()}, func(string) string { return "" }, &out)
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v\n%s", err, out.String())
				}
			}()
			if err := <-got; (err == nil) != tt.wantOK || f.Attempts() != tt.wantAttempts {
				t.Fatalf("peer call = %v after %d attempts, want ok=%v after %d", err, f.Attempts(), tt.wantOK, tt.wantAttempts)
			}
		})
	}
}
