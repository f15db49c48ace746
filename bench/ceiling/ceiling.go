// Package ceiling measures the best kassa could do on a machine: pgbench
// runs the SQL of kassa's requests (scripts.go) against one database that
// holds all four services' tables, on the same PostgreSQL server, with the
// same durability and the same number of clients as the load test. Its
// orders per second are the database's own limit for this work.
package ceiling

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/bench/workload"
	"github.com/kassa-dev/kassa/services/platform/pgcluster"
)

// Services whose migrations make up the ceiling database.
var Services = []string{"user", "billing", "order", "notification"}

// Setup creates the four services' tables in db from their migration files
// under root (the "Up" part of each goose migration, so the schema is the
// one the services run: constraints, indexes and triggers included) and
// adds users 1..users, each with an account funded like the load test's
// users.
func Setup(ctx context.Context, db *sql.DB, root string, users int) error {
	if err := Migrate(ctx, db, root); err != nil {
		return err
	}
	uid := strings.ReplaceAll(userIDExpr, ":n", "n")
	stmts := []string{
		`INSERT INTO users (id, username, email, account_ready)
			SELECT ` + uid + `, 'pgb' || n, 'pgb' || n || '@example.com', true FROM generate_series(1, $1) n`,
		`INSERT INTO accounts (user_id, balance, currency)
			SELECT ` + uid + `, $2, 'USD' FROM generate_series(1, $1) n`,
		`INSERT INTO transactions (user_id, kind, amount, currency, balance_after, request_id)
			SELECT ` + uid + `, 'deposit', $2, 'USD', $2, 'fund' FROM generate_series(1, $1) n`,
	}
	for _, s := range stmts {
		args := []any{users}
		if strings.Contains(s, "$2") {
			args = append(args, workload.FundAmount)
		}
		if _, err := db.ExecContext(ctx, s, args...); err != nil {
			return fmt.Errorf("add ceiling users: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

// Migrate creates the four services' tables in db from the "Up" parts of
// their migration files under root: the schema the services run.
func Migrate(ctx context.Context, db *sql.DB, root string) error {
	for _, svc := range Services {
		files, err := filepath.Glob(filepath.Join(root, "services", svc, "postgres", "migrations", "*.sql"))
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("no migrations for %s under %s", svc, root)
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			up, err := UpSection(string(b))
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			// No parameters: lib/pq sends it as one simple query, which may
			// hold several statements.
			if _, err := db.ExecContext(ctx, up); err != nil {
				return fmt.Errorf("apply %s: %w", f, err)
			}
		}
	}
	return nil
}

// UpSection returns the part of a goose migration between "-- +goose Up"
// and "-- +goose Down".
func UpSection(migration string) (string, error) {
	_, rest, ok := strings.Cut(migration, "-- +goose Up")
	if !ok {
		return "", errors.New("no '-- +goose Up' marker")
	}
	up, _, _ := strings.Cut(rest, "-- +goose Down")
	return up, nil
}

// Weights splits 1000 pgbench picks between the three scripts so that the
// mix is the load test's: a deposit share of all requests, and a reject
// share of the orders.
func Weights(depositShare, rejectShare float64) (paid, rejected, deposit int) {
	deposit = int(math.Round(1000 * depositShare))
	orders := 1000 - deposit
	rejected = int(math.Round(float64(orders) * rejectShare))
	return orders - rejected, rejected, deposit
}

// Config describes a pgbench run.
type Config struct {
	PGBench  string // path of the pgbench binary
	Host     string
	Port     int
	User     string
	Database string
	Clients  int
	Threads  int
	Duration time.Duration
	Users    int
	// DepositShare and RejectShare give the mix of the scripts.
	DepositShare, RejectShare float64
	// Mode is pgbench's query mode: prepared (parse once per connection,
	// the best the server can do), extended or simple.
	Mode string
	// Dir receives the scripts.
	Dir string
}

// ScriptResult is pgbench's account of one script.
type ScriptResult struct {
	Name         string  `json:"name"`
	Weight       int     `json:"weight"`
	Transactions int64   `json:"transactions"`
	TPS          float64 `json:"tps"`
	LatencyMs    float64 `json:"latency_avg_ms"`
}

// Result is a pgbench run.
type Result struct {
	Transactions int64   `json:"transactions"`
	Failed       int64   `json:"failed"`
	TPS          float64 `json:"tps"`
	LatencyMs    float64 `json:"latency_avg_ms"`
	// OrdersPerSecond is the throughput of the two order scripts.
	OrdersPerSecond float64        `json:"orders_per_s"`
	Scripts         []ScriptResult `json:"scripts"`
	// ClientCPU is the CPU time pgbench itself used.
	ClientCPU time.Duration `json:"-"`
	// Output is pgbench's report as printed.
	Output string `json:"-"`
}

// Script file names; OrdersPerSecond adds up the ones starting "order".
const (
	paidFile     = "order_paid.sql"
	rejectedFile = "order_rejected.sql"
	depositFile  = "deposit.sql"
)

// WriteScripts writes the three scripts into dir.
func WriteScripts(dir string) error {
	for name, text := range map[string]string{paidFile: PaidOrder, rejectedFile: RejectedOrder, depositFile: Deposit} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Args returns pgbench's command line for c.
func (c Config) Args() []string {
	paid, rejected, deposit := Weights(c.DepositShare, c.RejectShare)
	args := []string{
		"-h", c.Host, "-p", strconv.Itoa(c.Port), "-U", c.User,
		"-n", // no vacuum of pgbench's own tables: there are none
		"-M", c.Mode,
		"-c", strconv.Itoa(c.Clients), "-j", strconv.Itoa(max(1, min(c.Threads, c.Clients))),
		"-T", strconv.Itoa(max(1, int(c.Duration.Round(time.Second).Seconds()))),
		"-D", "users=" + strconv.Itoa(c.Users),
	}
	for _, s := range []struct {
		file   string
		weight int
	}{{paidFile, paid}, {rejectedFile, rejected}, {depositFile, deposit}} {
		if s.weight > 0 {
			args = append(args, "-f", filepath.Join(c.Dir, s.file)+"@"+strconv.Itoa(s.weight))
		}
	}
	return append(args, c.Database)
}

// Run writes the scripts and runs pgbench. Any failed or aborted client
// is an error: the ceiling of a script that does not run is no ceiling.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := WriteScripts(c.Dir); err != nil {
		return Result{}, err
	}
	cmd := exec.CommandContext(ctx, c.PGBench, c.Args()...)
	cmd.Env = append(os.Environ(), "PGAPPNAME=kassa-bench-ceiling")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("pgbench: %w\n%s%s", err, out, lastLines(stderr.String(), 20))
	}
	res, err := Parse(string(out))
	if ps := cmd.ProcessState; ps != nil {
		res.ClientCPU = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return res, fmt.Errorf("pgbench output: %w\n%s", err, out)
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("pgbench: %d failed transactions\n%s", res.Failed, lastLines(stderr.String(), 20))
	}
	return res, nil
}

var (
	reProcessed = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	reFailed    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	reLatency   = regexp.MustCompile(`(?m)^latency average = ([\d.]+) ms`)
	reTPS       = regexp.MustCompile(`(?m)^tps = ([\d.]+) \(without initial connection time\)`)
	reScript    = regexp.MustCompile(`^SQL script \d+: (.+)$`)
	reWeight    = regexp.MustCompile(`^ - weight: (\d+)`)
	reScriptTx  = regexp.MustCompile(`^ - (\d+) transactions \([\d.]+% of total, tps = ([\d.]+)\)`)
	reScriptLat = regexp.MustCompile(`^ - latency average = ([\d.]+) ms`)
)

// Parse reads pgbench's report (with several scripts, each has a section).
func Parse(out string) (Result, error) {
	res := Result{Output: out}
	num := func(re *regexp.Regexp, what string) (string, error) {
		m := re.FindStringSubmatch(out)
		if m == nil {
			return "", fmt.Errorf("no %s line", what)
		}
		return m[1], nil
	}
	s, err := num(reProcessed, "transactions processed")
	if err != nil {
		return res, err
	}
	res.Transactions, _ = strconv.ParseInt(s, 10, 64)
	if s, err := num(reFailed, "failed transactions"); err == nil {
		res.Failed, _ = strconv.ParseInt(s, 10, 64)
	}
	if s, err = num(reTPS, "tps"); err != nil {
		return res, err
	}
	res.TPS, _ = strconv.ParseFloat(s, 64)
	if s, err := num(reLatency, "latency average"); err == nil {
		res.LatencyMs, _ = strconv.ParseFloat(s, 64)
	}
	var cur *ScriptResult
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := reScript.FindStringSubmatch(line); m != nil {
			res.Scripts = append(res.Scripts, ScriptResult{Name: filepath.Base(strings.TrimSpace(m[1]))})
			cur = &res.Scripts[len(res.Scripts)-1]
			continue
		}
		if cur == nil {
			continue
		}
		if m := reWeight.FindStringSubmatch(line); m != nil {
			cur.Weight, _ = strconv.Atoi(m[1])
		} else if m := reScriptTx.FindStringSubmatch(line); m != nil {
			cur.Transactions, _ = strconv.ParseInt(m[1], 10, 64)
			cur.TPS, _ = strconv.ParseFloat(m[2], 64)
		} else if m := reScriptLat.FindStringSubmatch(line); m != nil {
			cur.LatencyMs, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	switch len(res.Scripts) {
	case 0:
		return res, errors.New("no per-script sections")
	case 1:
		// pgbench prints a single script's numbers without a tps line of
		// its own: the run's tps is the script's.
		res.Scripts[0].TPS = res.TPS
		res.Scripts[0].Transactions = res.Transactions
	}
	for _, sr := range res.Scripts {
		if strings.HasPrefix(sr.Name, "order") {
			res.OrdersPerSecond += sr.TPS
		}
	}
	return res, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FindPGBench returns the pgbench of the PostgreSQL installation whose
// server the stack runs (the folder of initdb, with symbolic links
// resolved), or the one on PATH.
func FindPGBench() (string, error) {
	if dir, err := pgcluster.FindBinaries(); err == nil {
		if initdb, err := filepath.EvalSymlinks(filepath.Join(dir, "initdb")); err == nil {
			p := filepath.Join(filepath.Dir(initdb), "pgbench")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	return "", errors.New("pgbench not found next to initdb or on PATH (Debian/Ubuntu: apt-get install postgresql-client)")
}
