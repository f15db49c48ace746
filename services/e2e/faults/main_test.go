package faults

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/dev/stack"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// stackEnv tunes the services so that what the background loops finish is
// finished within seconds: a repair pass every second, and a peer call
// deadline of 2s (the order service leaves orders younger than three call
// deadlines plus 5s to their CreateOrder call).
var stackEnv = []string{"REPAIR_INTERVAL=1s", "CALL_TIMEOUT=2s"}

// pgSettings make every commit wait until its WAL is written out (the
// stack's cluster does not wait, for speed), as a production server does,
// so that the PostgreSQL crash loses only what the services commit without
// waiting. fsync stays off: a crash of the server, unlike one of the
// machine, keeps what was written.
var pgSettings = map[string]string{"synchronous_commit": "on"}

// system is the running stack and what the suite knows about it.
type system struct {
	stack  *stack.Stack
	rest   *restClient
	orders orderv1.OrderServiceClient
	db     map[string]*sql.DB // service → its database
	ev     *evidence
	users  []user

	mu         sync.Mutex
	placed     []*placed    // every order a client placed
	cancels    []*cancelled // every cancellation the suite asked for
	deposited  map[string]int64
	deposits   map[string]int // deposit keys per user
	unexpected []string       // processes that exited on their own
}

// user is a buyer of the suite; tier decides how much money it gets.
type user struct {
	id    string
	tier  int    // 0: never funded, 1: rich, 2 and 3: runs out during a scenario
	token string // access token of its login; the suite is shorter than its lifetime
}

// funding is what a user of each tier gets at the start and before every
// scenario: the poor never afford an order, the rich always, the others run
// out part way, so every scenario has paid and rejected orders.
var funding = [4]int64{0, 50_000, 2_500, 4_000}

const numUsers = 16

// startSystem starts the stack; it is stopped when the test ends. KASSA_FAULTS_LOG
// names a file for the processes' logs (kept); otherwise they go to a
// temporary folder and their tail is printed when the test fails.
func startSystem(t *testing.T) *system {
	t.Helper()
	dir, err := os.MkdirTemp("", "kassa-faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The cluster runs as the postgres user under root, who must reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	logPath := os.Getenv("KASSA_FAULTS_LOG")
	if logPath == "" {
		logPath = filepath.Join(dir, "stack.log")
	} else if logPath, err = filepath.Abs(logPath); err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{Root: root, Dir: dir, FreePorts: true, Out: logs, LogFmt: "text", Env: stackEnv, PGSettings: pgSettings})
	if err != nil {
		dumpTail(t, logPath)
		t.Fatalf("start stack: %v", err)
	}
	sys := &system{stack: s, db: map[string]*sql.DB{}, ev: newEvidence(), deposited: map[string]int64{}, deposits: map[string]int{}}
	t.Cleanup(func() {
		s.Stop()
		logs.Close()
		if t.Failed() {
			dumpTail(t, logPath)
		}
	})
	go sys.watchExits()
	sys.rest = newRESTClient(s.BaseURL(), sys.ev)
	conn, err := grpc.NewClient(s.Addr("order"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sys.orders = orderv1.NewOrderServiceClient(conn)
	for _, name := range []string{"user", "billing", "order", "notification"} {
		db, err := pgdb.Open(ctx, s.DatabaseURL(name), pgdb.Options{MaxOpenConns: 2})
		if err != nil {
			t.Fatalf("open %s database: %v", name, err)
		}
		t.Cleanup(func() { db.Close() })
		sys.db[name] = db.DB
	}
	t.Logf("stack up: %s; logs in %s", s.Ports(), logPath)
	return sys
}

// watchExits records processes that exited on their own; the deliberate
// ones are not reported by the stack.
func (sys *system) watchExits() {
	for name := range sys.stack.Exited() {
		sys.mu.Lock()
		sys.unexpected = append(sys.unexpected, fmt.Sprintf("%s at %s", name, time.Now().Format("15:04:05.000")))
		sys.mu.Unlock()
	}
}

// ensureRunning restarts a component that died on its own since the last
// scenario, so one crash does not hide what the later scenarios show; the
// crash itself is an error.
func (sys *system) ensureRunning(t *testing.T) {
	t.Helper()
	for _, c := range stack.Components() {
		if sys.stack.Running(c.Name) {
			continue
		}
		t.Errorf("%s is not running at the start of the scenario: it exited on its own", c.Name)
		if err := sys.stack.Start(t.Context(), c.Name); err != nil {
			t.Fatalf("restart %s: %v", c.Name, err)
		}
	}
}

// createUsers creates the suite's buyers through the gateway and funds them.
func (sys *system) createUsers(t *testing.T) {
	t.Helper()
	var wg sync.WaitGroup
	users := make([]user, numUsers)
	errs := make([]error, numUsers)
	for i := range users {
		wg.Go(func() {
			name := fmt.Sprintf("faults-%d-%d", i, time.Now().UnixNano()%1_000_000)
			password := "pw-" + name + "-long enough"
			var u struct {
				ID string `json:"id"`
			}
			errs[i] = sys.rest.call(t.Context(), "create user "+name, "POST", "/v1/users", "user-"+name,
				map[string]any{"username": name, "email": name + "@example.com", "password": password}, &u)
			if errs[i] != nil {
				return
			}
			var login struct {
				AccessToken string `json:"accessToken"`
			}
			errs[i] = sys.rest.call(t.Context(), "log in "+name, "POST", "/v1/auth/login", "",
				map[string]any{"username": name, "password": password}, &login)
			if errs[i] == nil && login.AccessToken == "" {
				errs[i] = fmt.Errorf("login of %s answered no access token", name)
			}
			users[i] = user{id: u.ID, tier: i % len(funding), token: login.AccessToken}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if users[i].id == "" {
			t.Fatalf("user %d created without an id", i)
		}
	}
	sys.users = users
	sys.fund(t, "setup")
}

// fund deposits each user's tier amount under a key of its own for round.
func (sys *system) fund(t *testing.T, round string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(sys.users))
	for i, u := range sys.users {
		amount := funding[u.tier]
		if amount == 0 {
			continue
		}
		key := fmt.Sprintf("deposit-%s-%s", round, u.id)
		wg.Go(func() {
			var out map[string]any
			// The key travels in the body, as deposit clients send it.
			errs[i] = sys.rest.call(asUser(t.Context(), u), "deposit "+key, "POST", "/v1/users/"+u.id+"/account:deposit", "",
				map[string]any{"amount": strconv.FormatInt(amount, 10), "requestId": key}, &out)
			if errs[i] == nil {
				sys.mu.Lock()
				sys.deposited[u.id] += amount
				sys.deposits[u.id]++
				sys.mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// dumpTail prints the stack's own lines and the processes' warnings and
// errors from the end of the log: the evidence of a failure without the
// access log of every order.
func dumpTail(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("read stack log: %v", err)
		return
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "kassa ") || strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			keep = append(keep, line)
		}
	}
	keep = keep[max(0, len(keep)-150):]
	fmt.Fprintf(os.Stderr, "---- stack log %s: last %d warnings, errors and stack lines ----\n%s\n", path, len(keep), strings.Join(keep, "\n"))
}
