package boot_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/freeport"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runServing starts a service with args added to its listen, admin and
// database flags, waits until it serves and returns the admin URL.
func runServing(t *testing.T, setup func(context.Context, *boot.Deps) error, args ...string) string {
	t.Helper()
	db := pgtest.NewDB(t, nil)
	addr, admin := freeport.TestAddr(t), freeport.TestAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- boot.Run(ctx, spec(setup),
			append([]string{"test", "-listen", addr, "-admin-listen", admin, "-database-url", pgtest.URL(t, db)}, args...),
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
	// The admin listener opens before gRPC serves, so once a health check
	// answers, /metrics is up.
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("health: %v\n%s", err, out.String())
	}
	return "http://" + admin
}

// The admin listener serves the process's metrics: runtime, process, pool
// (labelled with the service name), gRPC server series of every method,
// and what the service registered on Deps.Metrics. pprof is off.
func TestRun_AdminListener_ServesMetrics(t *testing.T) {
	admin := runServing(t, func(_ context.Context, d *boot.Deps) error {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kassa_test_things_total", Help: "Things."})
		c.Add(3)
		return d.Metrics.Register(c)
	})
	code, body := httpGet(t, admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"kassa_test_things_total 3",
		`go_sql_max_open_connections{db_name="test"} 20`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 1`,
		`grpc_server_started_total{grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 0`,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := httpGet(t, admin+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without -pprof = %d, want 404", code)
	}
}

func TestRun_Pprof_ServedWhenEnabled(t *testing.T) {
	admin := runServing(t, func(context.Context, *boot.Deps) error { return nil }, "-pprof")
	if code, body := httpGet(t, admin+"/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("/debug/pprof/goroutine with -pprof = %d %.60q", code, body)
	}
}

func TestRun_BadPprofSetting_NamesIt(t *testing.T) {
	var out syncBuffer
	err := boot.Run(context.Background(), spec(nil), []string{"test", "-database-url", "postgres://x/y"},
		func(k string) string { return map[string]string{"PPROF": "sometimes"}[k] }, &out)
	if err == nil || !strings.Contains(err.Error(), "PPROF") {
		t.Fatalf("Run = %v, want an error naming PPROF", err)
	}
}

// The database settings reach every connection of the service's pool:
// flags win over the environment, 0 keeps the server's value, and the
// connection wait is bounded as configured.
func TestRun_DatabaseTimeouts_ReachThePool(t *testing.T) {
	got := map[string]string{}
	var waitErr error
	runServing(t, func(ctx context.Context, d *boot.Deps) error {
		for _, s := range []string{"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"} {
			var v string
			if err := pgdb.Get(ctx, d.DB, &v, `SHOW `+s); err != nil {
				return err
			}
			got[s] = v
		}
		// Hold every connection: the next call gives up after the wait bound.
		var conns []io.Closer
		for range d.Config.DBMaxConns {
			c, err := pgdb.Conn(ctx, d.DB)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		waitErr = pgdb.Get(ctx, d.DB, new(int), `SELECT 1`)
		for _, c := range conns {
			c.Close()
		}
		return nil
	}, "-db-statement-timeout", "1500ms", "-db-idle-in-tx-timeout", "0", "-db-max-conns", "2", "-db-conn-wait-timeout", "100ms")
	want := map[string]string{"statement_timeout": "1500ms", "lock_timeout": "5s", "idle_in_transaction_session_timeout": "0"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if !errors.Is(waitErr, apperr.ErrDatabaseUnavailable) {
		t.Errorf("call with every connection held = %v, want ErrDatabaseUnavailable", waitErr)
	}
}
