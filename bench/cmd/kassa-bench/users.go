package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/kassa-dev/kassa/bench/target"
	"github.com/kassa-dev/kassa/bench/workload"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// crowd is a set of users that a load spreads over: the workload that
// drives them, and the requests of it that failed (retried before the
// check). The main crowd is many users; the hot crowd is one, so that
// every order waits for the same account.
type crowd struct {
	name  string
	gen   *workload.Generator
	users []target.User

	failedMu sync.Mutex
	failed   []int64 // sequence numbers of requests that did not succeed
}

func (c *crowd) fundKey(i int) string { return c.gen.Run + "-fund-" + strconv.Itoa(i) }

func (c *crowd) ids() []string {
	out := make([]string, len(c.users))
	for i, u := range c.users {
		out[i] = u.ID
	}
	return out
}

func (c *crowd) fail(seq int64) {
	c.failedMu.Lock()
	c.failed = append(c.failed, seq)
	c.failedMu.Unlock()
}

// createUsers makes the crowds' users through the API: CreateUser with a
// password (which opens the billing account), one login per user, and a
// funding deposit with that user's token. All of it is set-up, outside
// every timed window, so the measurements count orders and deposits, not
// password hashing. An access token lives 15 minutes (the user service's
// -auth-access-ttl), longer than a default run.
func (b *bench) createUsers(ctx context.Context) error {
	run := fmt.Sprintf("b%x", time.Now().UnixNano()&0xffffff)
	mix := workload.Mix{DepositShare: b.cfg.depositShare, RejectShare: b.cfg.rejectShare, Users: b.cfg.users, Seed: b.cfg.seed}
	b.main = &crowd{name: "main", gen: &workload.Generator{Mix: mix, Run: run}}
	mix.Users = 1
	b.hot = &crowd{name: "hot", gen: &workload.Generator{Mix: mix, Run: run + "h"}}
	conn, err := grpc.NewClient(b.st.Addr("user"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	t0 := time.Now()
	for _, c := range []*crowd{b.main, b.hot} {
		if err := c.gen.Validate(); err != nil {
			return err
		}
		if err := b.fill(ctx, conn, c); err != nil {
			return err
		}
	}
	b.printf("created, logged in and funded %d users through the API in %.1fs\n", len(b.main.users)+len(b.hot.users), time.Since(t0).Seconds())
	return nil
}

// fill creates c's users, eight at a time.
func (b *bench) fill(ctx context.Context, conn *grpc.ClientConn, c *crowd) error {
	users := userv1.NewUserServiceClient(conn)
	logins := userv1.NewAuthServiceClient(conn)
	c.users = make([]target.User, c.gen.Users)
	var wg sync.WaitGroup
	errs := make(chan error, len(c.users))
	next := make(chan int)
	for range min(8, len(c.users)) {
		wg.Go(func() {
			for i := range next {
				if err := b.createUser(ctx, users, logins, c, i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range c.users {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

// password is the password of the bench's user name.
func password(name string) string { return "bench-password-" + name }

func (b *bench) createUser(ctx context.Context, users userv1.UserServiceClient, logins userv1.AuthServiceClient, c *crowd, i int) error {
	name := fmt.Sprintf("%su%d", c.gen.Run, i)
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 { // back off between retries
			if err := pause(ctx, time.Duration(attempt)*200*time.Millisecond); err != nil {
				return err
			}
		}
		cctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
		u, err := users.CreateUser(cctx, &userv1.CreateUserRequest{
			User:      &userv1.User{Username: name, Email: name + "@example.com", FirstName: "Bench", Password: password(name)},
			RequestId: c.gen.Run + "-user-" + strconv.Itoa(i),
		})
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("create user %d: %w", i, err)
			continue
		}
		c.users[i].ID = u.GetId()
		tok, err := b.loginWith(ctx, logins, name, password(name))
		if err != nil {
			lastErr = fmt.Errorf("log in user %d: %w", i, err)
			continue
		}
		c.users[i].Token = tok.Token
		cctx, cancel = context.WithTimeout(ctx, b.cfg.timeout)
		a := b.grpc.Deposit(cctx, c.users[i], workload.FundAmount, c.fundKey(i))
		cancel()
		if a.Code != "" {
			lastErr = fmt.Errorf("fund user %d: %s", i, a.Code)
			continue
		}
		return nil
	}
	return lastErr
}
