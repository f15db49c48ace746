package boot_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kassa-dev/kassa/services/platform/freeport"

	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

var migrations = fstest.MapFS{"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id int PRIMARY KEY);\n-- +goose Down\nDROP TABLE t;\n")}}

func spec(setup func(context.Context, *boot.Deps) error) boot.Spec {
	return boot.Spec{Name: "test", Addr: "127.0.0.1:0", Migrations: migrations, Setup: setup}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRun_Migrate_AppliesAndExits(t *testing.T) {
	db := pgtest.NewDB(t, nil)
	url := pgtest.URL(t, db)
	called := false
	var out syncBuffer
	err := boot.Run(context.Background(), spec(func(context.Context, *boot.Deps) error { called = true; return nil }),
		[]string{"test", "migrate", "-database-url", url}, func(string) string { return "" }, &out)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if called {
		t.Error("migrate must not set up the server")
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM t`); err != nil {
		t.Fatalf("table of the migration is missing: %v", err)
	}
}

func TestRun_BadConfig_NamesTheSetting(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"test"}, nil, "DATABASE_URL"},
		{[]string{"test", "-database-url", "postgres://x/y", "-call-timeout", "soon"}, nil, "CALL_TIMEOUT"},
		{[]string{"test", "-database-url", "postgres://x/y"}, map[string]string{"DB_MAX_CONNS": "0"}, "DB_MAX_CONNS"},
		{[]string{"test", "-database-url", "postgres://x/y"}, map[string]string{"DB_STATEMENT_CACHE": "-1"}, "DB_STATEMENT_CACHE"},
		{[]string{"test", "-database-url", "postgres://x/y", "-db-statement-cache", "many"}, nil, "DB_STATEMENT_CACHE"},
		{[]string{"test", "-database-url", "postgres://x/y", "-log-format", "xml"}, nil, "LOG_FORMAT"},
		{[]string{"test", "-database-url", "postgres://x/y", "-db-statement-timeout", "ten"}, nil, "DB_STATEMENT_TIMEOUT"},
		{[]string{"test", "-database-url", "postgres://x/y"}, map[string]string{"DB_LOCK_TIMEOUT": "-1s"}, "DB_LOCK_TIMEOUT"},
		{[]string{"test", "-database-url", "postgres://x/y"}, map[string]string{"DB_IDLE_IN_TX_TIMEOUT": "5"}, "DB_IDLE_IN_TX_TIMEOUT"},
		{[]string{"test", "-database-url", "postgres://x/y", "-db-conn-wait-timeout", "soon"}, nil, "DB_CONN_WAIT_TIMEOUT"},
		{[]string{"test", "frobnicate"}, nil, "unknown command"},
	}
	for _, tt := range tests {
		var out syncBuffer
		err := boot.Run(context.Background(), spec(nil), tt.args, func(k string) string { return tt.env[k] }, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%v, %v) = %v; want an error naming %s", tt.args, tt.env, err, tt.want)
		}
	}
}

// Serve: the server answers health checks and stops when the context ends.
func TestRun_Serve_HealthyThenStopsOnCancel(t *testing.T) {
	db := pgtest.NewDB(t, nil)
	addr, err := freeport.Addr() // Run listens itself
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- boot.Run(ctx, spec(func(ctx context.Context, d *boot.Deps) error {
			d.Go(func(ctx context.Context) { close(ready); <-ctx.Done() })
			return nil
		}), []string{"test", "-listen", addr, "-admin-listen", "", "-database-url", pgtest.URL(t, db)}, func(string) string { return "" }, &out)
	}()
	<-ready
	conn, err := rpcclient.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The listener opens right after Setup; wait for it through the health
	// check itself (WaitForReady blocks until the connection is up).
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !strings.Contains(out.String(), `"msg":"stopped"`) {
		t.Errorf("no stop log line in:\n%s", out.String())
	}
}
