package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/dev/stack"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"google.golang.org/grpc"
)

// The running system, shared by the tests of this package.
var sys struct {
	stack *stack.Stack
	// allInOne: the stack is the all-in-one process (KASSA_E2E_ALL_IN_ONE=1,
	// make e2e-all-in-one); the same tests run against it.
	allInOne     bool
	conns        map[string]*grpc.ClientConn // service → a connection without a token of its own
	users        userv1.UserServiceClient
	auth         userv1.AuthServiceClient
	billing      billingv1.BillingServiceClient
	orders       orderv1.OrderServiceClient
	notification notificationv1.NotificationServiceClient
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kassa-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logs, err := os.Create(filepath.Join(dir, "stack.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sys.allInOne = os.Getenv("KASSA_E2E_ALL_IN_ONE") == "1"
	s, err := stack.Start(ctx, stack.Options{Root: root, Dir: dir, FreePorts: true, Out: logs, LogFmt: "text", Env: append(slices.Clone(loginEnv), rateEnv...), AllInOne: sys.allInOne})
	if err != nil {
		dumpLog(logs.Name())
		fmt.Fprintln(os.Stderr, "start stack:", err)
		return 1
	}
	sys.stack = s
	sys.conns = map[string]*grpc.ClientConn{}
	for name, set := range map[string]func(c *grpcConn){
		"user": func(c *grpcConn) {
			sys.users, sys.auth = userv1.NewUserServiceClient(c), userv1.NewAuthServiceClient(c)
		},
		"billing":      func(c *grpcConn) { sys.billing = billingv1.NewBillingServiceClient(c) },
		"order":        func(c *grpcConn) { sys.orders = orderv1.NewOrderServiceClient(c) },
		"notification": func(c *grpcConn) { sys.notification = notificationv1.NewNotificationServiceClient(c) },
	} {
		c, err := rpcclient.Dial(s.Addr(name), 30*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer c.Close()
		sys.conns[name] = c
		set(c)
	}
	code := m.Run()
	s.Stop()
	if code != 0 {
		dumpLog(logs.Name())
	}
	if left := processesUnder(dir); left != "" {
		fmt.Fprintf(os.Stderr, "processes still running after Stop:\n%s\n", left)
		return 1
	}
	return code
}

func dumpLog(path string) {
	b, _ := os.ReadFile(path)
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	fmt.Fprintf(os.Stderr, "---- stack log (tail) ----\n%s\n", b)
}
