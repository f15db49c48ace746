// Package pgcluster runs a private PostgreSQL cluster from the server
// binaries installed on the machine: the throwaway clusters of integration
// tests and the persistent one of `make run`. Under root it runs the server
// as the unprivileged "postgres" user, because initdb refuses to run as root.
package pgcluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/kassa-dev/kassa/services/platform/freeport"

	"github.com/lib/pq"
)

// Options configure a cluster.
type Options struct {
	// Dir holds the data directory (Dir/data) and the log. Kept between
	// runs: an initialised cluster is reused.
	Dir string
	// Port to listen on (127.0.0.1 only); 0 picks a free port.
	Port int
	// Durable keeps fsync on. Tests turn it off for speed.
	Durable bool
	// Settings are extra server settings (name → value).
	Settings map[string]string
}

// Cluster is a server the package started. Stop and Start stop it and start
// it again with the same settings, for tests that take the database away.
type Cluster struct {
	dir, bin string
	port     int
	runAs    string
	// serverOpts is pg_ctl's -o value: the settings the server was first
	// started with, so a later Start brings back the same server.
	serverOpts string
}

const superuser = "postgres"

// ErrNoServer is returned when no PostgreSQL server binaries are found.
var ErrNoServer = errors.New(`PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin.
Install them, for example:
  Debian/Ubuntu: sudo apt-get install postgresql
  Fedora:        sudo dnf install postgresql-server
  macOS:         brew install postgresql@16
or point kassa at an existing server with DATABASE_URL`)

// FindBinaries returns the folder holding initdb and pg_ctl.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql*/bin", "/usr/local/opt/postgresql*/bin", "/usr/local/pgsql/bin"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	// Newest version first: the glob sorts lexically, so compare numbers.
	sort.SliceStable(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoServer
}

func versionOf(dir string) int {
	for _, part := range strings.Split(dir, string(filepath.Separator)) {
		digits := strings.TrimLeftFunc(part, func(r rune) bool { return r < '0' || r > '9' })
		if n, err := strconv.Atoi(strings.TrimRight(digits, "@")); err == nil {
			return n
		}
	}
	return 0
}

// Start initialises the cluster in opts.Dir if needed and starts it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, port: opts.Port}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
		if _, err := user.Lookup(c.runAs); err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL must run as an unprivileged user, but user %q does not exist (create it, run as another user, or set DATABASE_URL): %w", c.runAs, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if c.runAs != "" {
		if err := chownTo(dir, c.runAs); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if out, err := c.command(ctx, "initdb", "-D", data, "-U", superuser, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %w\n%s", err, out)
		}
	}
	// A server left running by a killed earlier run would hold the data
	// directory; stop it so this run starts from a known state.
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		_ = c.command(ctx, "pg_ctl", "stop", "-D", data, "-m", "fast", "-w").Run()
	}
	if c.port == 0 {
		if c.port, err = freeport.Port(); err != nil {
			return nil, err
		}
	}
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(c.port),
		"unix_socket_directories": dir,
		"max_connections":         "200",
	}
	if !opts.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	c.serverOpts = serverOptions(settings)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// serverOptions renders settings as pg_ctl's -o value, sorted so the
// command line is the same run after run.
func serverOptions(settings map[string]string) string {
	var o []string
	for k, v := range settings {
		o = append(o, fmt.Sprintf("-c %s=%s", k, v))
	}
	sort.Strings(o)
	return strings.Join(o, " ")
}

// Start starts the server of a cluster that Stop stopped, with the settings
// of the first start, and waits until it accepts connections.
func (c *Cluster) Start(ctx context.Context) error {
	logFile := filepath.Join(c.dir, "postgres.log")
	if out, err := c.command(ctx, "pg_ctl", "start", "-D", filepath.Join(c.dir, "data"), "-l", logFile, "-w", "-t", "60", "-o", c.serverOpts).CombinedOutput(); err != nil {
		tail, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, lastLines(string(tail), 20))
	}
	return nil
}

// Port is the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// Dir is the cluster's folder.
func (c *Cluster) Dir() string { return c.dir }

// URL is the connection URL of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.port, db)
}

// CreateDatabase creates database name unless it exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return EnsureDatabase(ctx, c.URL("postgres"), name)
}

// EnsureDatabase creates database name on the server of adminURL unless it
// exists. adminURL may name any database the user can connect to.
func EnsureDatabase(ctx context.Context, adminURL, name string) error {
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast mode: open sessions are disconnected
// and their transactions rolled back) and waits until it has exited.
func (c *Cluster) Stop() error { return c.stop("fast") }

// Crash stops the server the way a crash would (immediate mode: every
// process quits at once, WAL not yet written out is lost, and the next
// Start recovers from the WAL on disk), and waits until it has exited.
func (c *Cluster) Crash() error { return c.stop("immediate") }

func (c *Cluster) stop(mode string) error {
	out, err := c.command(context.Background(), "pg_ctl", "stop", "-D", filepath.Join(c.dir, "data"), "-m", mode, "-w").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w\n%s", mode, err, out)
	}
	return nil
}

// Restart stops the server (fast mode) and starts it again with the same
// settings: every session is cut, as in a failover or a restart to apply
// settings.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.Start(ctx)
}

// command runs a server program, as the unprivileged user under root. It
// gets its own process group so that a Ctrl-C in the terminal reaches only
// the program that started the cluster, which then stops it in order
// (otherwise the server would shut down before the services drain).
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func chownTo(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
