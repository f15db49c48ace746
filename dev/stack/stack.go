// Package stack runs the whole kassa system on one machine: a private
// PostgreSQL cluster (or a given server), one database per service, the four
// services and the gateway as child processes with prefixed logs, or all
// five in one all-in-one process (Options.AllInOne). It is what `make run`
// (`make run-all`) and the end-to-end tests start.
package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kassa-dev/kassa/services/platform/freeport"

	"github.com/kassa-dev/kassa/services/platform/pgcluster"
)

// Component is one process of the system.
type Component struct {
	Name      string
	Pkg       string // main package, relative to the repository root
	Port      int    // gRPC port (HTTP port for the gateway)
	AdminPort int
}

// Components lists the processes in start order; they stop in reverse.
func Components() []Component {
	return []Component{
		{"billing", "./services/billing/cmd/billing", 50052, 9102},
		{"notification", "./services/notification/cmd/notification", 50054, 9104},
		{"user", "./services/user/cmd/user", 50051, 9101},
		{"order", "./services/order/cmd/order", 50053, 9103},
		{"gateway", "./gateway/cmd/gateway", 8080, 9100},
	}
}

// Options configure a stack.
type Options struct {
	Root string // repository root
	// Dir holds the cluster, binaries and logs (git-ignored .data for
	// `make run`, a temporary folder for tests).
	Dir string
	// DatabaseURL points at an existing server to use instead of starting
	// a cluster; the databases kassa_<service> are created on it.
	DatabaseURL string
	// FreePorts picks unused ports instead of the defaults (for tests that
	// must not clash with a running `make run`).
	FreePorts bool
	// Durable keeps fsync on in the private cluster.
	Durable bool
	Out     io.Writer // prefixed process output
	LogFmt  string    // service log format: text or json

	// PGSettings are extra server settings of the private cluster (name →
	// value, over pgcluster's own), such as shared_preload_libraries,
	// which only a server start applies. They are ignored with
	// DatabaseURL: that server is not the stack's to configure.
	PGSettings map[string]string

	// Env is extra environment of every process (KEY=value), applied after
	// the stack's own settings so it wins: tests shorten REPAIR_INTERVAL or
	// CALL_TIMEOUT with it. Unknown names are ignored by the services.
	Env []string

	// AllInOne runs the gateway and the four services in one process
	// (services/allinone) instead of five: see allinone.go for what that
	// changes in the Stack's API.
	AllInOne bool
}

// Stack is a running system.
type Stack struct {
	opts       Options
	cluster    *pgcluster.Cluster
	components []Component
	bin        string            // folder of the built binaries
	dbURLs     map[string]string // service → its database URL
	auth       authFiles         // signing keys and the services' client secrets
	exited     chan string       // name of a process that exited on its own
	stopping   atomic.Bool

	ctl       sync.Mutex       // one Kill, Terminate, Start or PostgreSQL control at a time
	mu        sync.Mutex       // guards procs and pgStopped
	procs     map[string]*proc // the latest process of each component
	pgStopped bool             // StopPostgres stopped the cluster on purpose
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	err  error         // cmd.Wait's result, set before done is closed
	// deliberate is set before the stack signals the process on purpose
	// (Kill, Terminate), so its exit is not reported on Exited.
	deliberate atomic.Bool
}

// BaseURL is the gateway's URL.
func (s *Stack) BaseURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", s.port("gateway"))
}

// Addr is the gRPC address of a service.
func (s *Stack) Addr(name string) string { return fmt.Sprintf("127.0.0.1:%d", s.port(name)) }

// AdminURL is the admin (metrics) URL of a component.
func (s *Stack) AdminURL(name string) string {
	if name == AllInOne && s.opts.AllInOne {
		// Every admin port is the one process's; the gateway's serves
		// what is process-wide (pprof, the runtime's metrics).
		name = "gateway"
	}
	for _, c := range s.components {
		if c.Name == name {
			return fmt.Sprintf("http://127.0.0.1:%d", c.AdminPort)
		}
	}
	return ""
}

func (s *Stack) port(name string) int {
	for _, c := range s.components {
		if c.Name == name {
			return c.Port
		}
	}
	return 0
}

// Exited reports the name of a process that exited on its own: not one
// that Stop, Kill or Terminate ended.
func (s *Stack) Exited() <-chan string { return s.exited }

// DatabaseURL is the URL of a service's database ("" for the gateway), for
// tests that check what the services stored.
func (s *Stack) DatabaseURL(name string) string { return s.dbURLs[name] }

// Start builds and starts everything and waits until the gateway reports
// all services ready. On error it stops whatever it started.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	s := &Stack{opts: opts, components: Components(), exited: make(chan string, 8),
		dbURLs: make(map[string]string), procs: make(map[string]*proc)}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	s.logf("building binaries")
	s.bin = filepath.Join(opts.Dir, "bin")
	args := []string{"build", "-o", s.bin + string(filepath.Separator)}
	if v := gitDescribe(ctx, opts.Root); v != "" {
		// The gateway serves it as the OpenAPI document's info.version.
		args = append(args, "-ldflags=-X main.version="+v)
	}
	args = append(args, s.packages()...)
	build := exec.CommandContext(ctx, "go", args...)
	build.Dir, build.Stdout, build.Stderr = opts.Root, opts.Out, opts.Out
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go build: %w", err)
	}

	// Chosen after the build, so no minutes pass between choosing a port
	// and the component binding it.
	if opts.FreePorts {
		for i := range s.components {
			if s.components[i].Port, err = freeport.Port(); err != nil {
				return nil, err
			}
			if s.components[i].AdminPort, err = freeport.Port(); err != nil {
				return nil, err
			}
		}
	}

	if s.auth, err = prepareAuth(ctx, filepath.Join(opts.Dir, "auth"), s.bin, opts.Out); err != nil {
		return nil, err
	}
	s.logf("signing keys in %s", s.auth.signingKeys)

	adminURL := opts.DatabaseURL
	if adminURL == "" {
		s.logf("starting PostgreSQL in %s", filepath.Join(opts.Dir, "pg"))
		// A fixed port lets people connect with psql run after run; tests
		// (FreePorts) and a busy port get any free one.
		port := DefaultPGPort
		if opts.FreePorts || !portFree(port) {
			port = 0
		}
		if s.cluster, err = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(opts.Dir, "pg"), Port: port, Durable: opts.Durable, Settings: opts.PGSettings}); err != nil {
			return nil, err
		}
		adminURL = s.cluster.URL("postgres")
		s.logf("PostgreSQL listening on 127.0.0.1:%d (psql %s)", s.cluster.Port(), s.cluster.URL("kassa_billing"))
	}
	for _, c := range s.components {
		if c.Name == "gateway" {
			continue
		}
		name := "kassa_" + c.Name
		if err := pgcluster.EnsureDatabase(ctx, adminURL, name); err != nil {
			return nil, err
		}
		if s.dbURLs[c.Name], err = withDatabase(adminURL, name); err != nil {
			return nil, err
		}
	}

	for _, c := range s.processes() {
		p, err := s.spawn(c)
		if err != nil {
			return nil, err
		}
		// The order service asks the user service for its service token
		// on its first peer call, which its start-up repair pass may make
		// at once; the processes after user wait until user serves (and
		// so serves its key set) rather than start with a failed fetch.
		if c.Name == "user" {
			if err := s.waitComponent(ctx, c, p, 60*time.Second); err != nil {
				return nil, err
			}
		}
	}
	if err := s.waitReady(ctx, 90*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// env is the environment of component c's process; a restarted process
// gets the same.
func (s *Stack) env(c Component) []string {
	if c.Name == AllInOne {
		return s.allInOneEnv()
	}
	settings := []string{
		"LISTEN_ADDR=" + fmt.Sprintf("127.0.0.1:%d", c.Port),
		"ADMIN_ADDR=" + fmt.Sprintf("127.0.0.1:%d", c.AdminPort),
		"LOG_FORMAT=" + s.opts.LogFmt,
		"DATABASE_URL=" + s.dbURLs[c.Name],
		"USER_ADDR=" + s.Addr("user"),
		"BILLING_ADDR=" + s.Addr("billing"),
		"ORDER_ADDR=" + s.Addr("order"),
		"NOTIFICATION_ADDR=" + s.Addr("notification"),
	}
	settings = append(settings, s.authEnv().settings(c.Name)...)
	return processEnv(os.Environ(), append(settings, s.opts.Env...)...)
}

func (s *Stack) authEnv() authEnv {
	return authEnv{issuer: s.BaseURL(), jwksURL: s.JWKSURL(), revocationURL: s.RevocationURL(), files: s.auth}
}

// JWKSURL is where the user service serves the public signing keys (its
// admin listener); every process verifies tokens with them.
func (s *Stack) JWKSURL() string { return s.AdminURL("user") + "/.well-known/jwks.json" }

// SigningKeys is the path of the user service's signing key file.
func (s *Stack) SigningKeys() string { return s.auth.signingKeys }

// processEnv is the environment of a process of the stack: the caller's,
// then the stack's settings (later entries win), and GOMAXPROCS=1 unless the
// caller or the settings set GOMAXPROCS. Five Go processes and PostgreSQL share the
// machine's cores here and none of the Go processes needs more than a
// fraction of a core; with one P a request's goroutines run on the thread
// that is already awake instead of waking another. make bench on 2 cores:
// the same throughput, the median order 13-20 % faster (docs/benchmarks.md).
func processEnv(environ []string, settings ...string) []string {
	return withProcs(append(slices.Clip(environ), settings...), 1)
}

// withProcs is env with GOMAXPROCS=n added unless env sets it already.
func withProcs(env []string, n int) []string {
	// The last entry is the one the process sees.
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "GOMAXPROCS="); ok {
			if v != "" {
				return env
			}
			break
		}
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(n))
}

// spawn starts component c's binary. The caller holds no lock; spawn
// takes s.mu to record the process.
func (s *Stack) spawn(c Component) (*proc, error) {
	cmd := exec.Command(filepath.Join(s.bin, filepath.Base(c.Pkg)))
	cmd.Env = s.env(c)
	cmd.Dir = s.opts.Root
	// Own process group: a terminal Ctrl-C reaches the runner only, which
	// then stops the processes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pw := &prefixWriter{prefix: fmt.Sprintf("%-12s | ", c.Name), w: s.opts.Out}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	p := &proc{name: c.Name, cmd: cmd, done: make(chan struct{})}
	s.mu.Lock()
	s.procs[c.Name] = p
	s.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		pw.flush()
		// Closed before the exit is reported: whoever hears of it on
		// Exited finds the component not Running.
		close(p.done)
		switch exitKind(s.stopping.Load(), p.deliberate.Load()) {
		case exitStopping:
		case exitDeliberate:
			s.logf("%s ended on purpose: %v", c.Name, exitText(p.err))
		case exitUnexpected:
			s.logf("%s exited unexpectedly: %v", c.Name, exitText(p.err))
			select {
			case s.exited <- c.Name:
			default:
			}
		}
	}()
	return p, nil
}

// waitReady polls the gateway's /readyz?all, 200 once all four services are SERVING.
func (s *Stack) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(s.BaseURL() + "/readyz?all")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case name := <-s.exited:
			return fmt.Errorf("%s exited during start-up (see its log above)", name)
		case <-deadline.C:
			return fmt.Errorf("services not ready after %v (see the logs above)", timeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Stop terminates the processes in reverse start order, each with SIGTERM
// and a grace period, then stops the private cluster. It is safe to call
// more than once, and after Kill or Terminate left components down.
func (s *Stack) Stop() {
	s.stopping.Store(true)
	procs := s.processes()
	for i := len(procs) - 1; i >= 0; i-- {
		s.mu.Lock()
		p := s.procs[procs[i].Name]
		delete(s.procs, procs[i].Name)
		s.mu.Unlock()
		if p == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			s.logf("%s did not stop within 20s; killing it", p.name)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cluster != nil {
		if !s.pgStopped {
			if err := s.cluster.Stop(); err != nil {
				s.logf("stop PostgreSQL: %v", err)
			}
		}
		s.cluster = nil
	}
}

func (s *Stack) logf(format string, args ...any) {
	fmt.Fprintf(s.opts.Out, "%-12s | %s\n", "kassa", fmt.Sprintf(format, args...))
}

func withDatabase(serverURL, db string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL is not a URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

// DefaultPGPort is the port of the private cluster of `make run`.
const DefaultPGPort = 55432

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Ports returns "name=port" pairs, for messages.
func (s *Stack) Ports() string {
	var parts []string
	for _, c := range s.components {
		parts = append(parts, c.Name+"="+strconv.Itoa(c.Port))
	}
	return strings.Join(parts, " ")
}

// gitDescribe names the checkout the binaries are built from, or "" outside
// git.
func gitDescribe(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
