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

// createUsers makes the users the load spreads over, through the API:
// CreateUser with a password (which opens the billing account), one login
// per user, and a funding deposit with that user's token. All of it is
// set-up, outside every timed window, so the measurements count orders and
// deposits, not password hashing. An access token lives 15 minutes (the
// user service's -auth-access-ttl), longer than a default run.
func (b *bench) createUsers(ctx context.Context) error {
	run := fmt.Sprintf("b%x", time.Now().UnixNano()&0xffffff)
	b.gen = &workload.Generator{
		Mix: workload.Mix{DepositShare: b.cfg.depositShare, RejectShare: b.cfg.rejectShare, Users: b.cfg.users, Seed: b.cfg.seed},
		Run: run,
	}
	if err := b.gen.Validate(); err != nil {
		return err
	}
	conn, err := grpc.NewClient(b.st.Addr("user"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	users := userv1.NewUserServiceClient(conn)
	logins := userv1.NewAuthServiceClient(conn)
	b.users = make([]string, b.cfg.users)
	b.tokens = make([]string, b.cfg.users)
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, b.cfg.users)
	next := make(chan int)
	for range min(8, b.cfg.users) {
		wg.Go(func() {
			for i := range next {
				if err := b.createUser(ctx, users, logins, run, i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range b.cfg.users {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	b.printf("created, logged in and funded %d users through the API in %.1fs\n", b.cfg.users, time.Since(t0).Seconds())
	return nil
}

func (b *bench) fundKey(i int) string { return b.gen.Run + "-fund-" + strconv.Itoa(i) }

// user is the i-th simulated user as the targets send it.
func (b *bench) user(i int) target.User { return target.User{ID: b.users[i], Token: b.tokens[i]} }

func (b *bench) createUser(ctx context.Context, users userv1.UserServiceClient, logins userv1.AuthServiceClient, run string, i int) error {
	name := fmt.Sprintf("%su%d", run, i)
	password := "bench-password-" + name
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 { // back off between retries
			if err := pause(ctx, time.Duration(attempt)*200*time.Millisecond); err != nil {
				return err
			}
		}
		cctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
		u, err := users.CreateUser(cctx, &userv1.CreateUserRequest{
			User:      &userv1.User{Username: name, Email: name + "@example.com", FirstName: "Bench", Password: password},
			RequestId: run + "-user-" + strconv.Itoa(i),
		})
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("create user %d: %w", i, err)
			continue
		}
		b.users[i] = u.GetId()
		cctx, cancel = context.WithTimeout(ctx, b.cfg.timeout)
		tok, err := logins.Login(cctx, &userv1.LoginRequest{Username: name, Password: password})
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("log in user %d: %w", i, err)
			continue
		}
		b.tokens[i] = tok.GetAccessToken()
		cctx, cancel = context.WithTimeout(ctx, b.cfg.timeout)
		a := b.grpc.Deposit(cctx, b.user(i), workload.FundAmount, b.fundKey(i))
		cancel()
		if a.Code != "" {
			lastErr = fmt.Errorf("fund user %d: %s", i, a.Code)
			continue
		}
		return nil
	}
	return lastErr
}
