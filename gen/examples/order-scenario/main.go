// Command order-scenario shows the kassa Go client library on its own: it
// dials the four services with the generated gRPC clients, registers a user
// with a password, logs in through the user service's AuthService, and with
// the access token on every call deposits money, places an order, has part
// of it refunded, cancels it (the rest of the price comes back) and lists
// the user's letters.
//
//	go run github.com/kassa-dev/kassa/gen/examples/order-scenario \
//	    -user localhost:50051 -billing localhost:50052 \
//	    -order localhost:50053 -notification localhost:50054
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

func main() {
	if err := run(context.Background(), os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "order-scenario:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	userAddr := fs.String("user", "localhost:50051", "user service address")
	billingAddr := fs.String("billing", "localhost:50052", "billing service address")
	orderAddr := fs.String("order", "localhost:50053", "order service address")
	notificationAddr := fs.String("notification", "localhost:50054", "notification service address")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	dial := func(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
		return grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	}
	conns := make([]*grpc.ClientConn, 0, 4)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Registration and login are public: the user connection carries no
	// token of its own; the calls that need one get it per call below.
	userConn, err := dial(*userAddr)
	if err != nil {
		return err
	}
	conns = append(conns, userConn)
	users := userv1.NewUserServiceClient(userConn)
	auth := userv1.NewAuthServiceClient(userConn)

	run := randomID()
	password := "example-password-" + run
	user, err := users.CreateUser(ctx, &userv1.CreateUserRequest{
		User: &userv1.User{Username: "example-" + run, Email: "example-" + run + "@example.com", FirstName: "Grace",
			Password: password},
		RequestId: "example-user-" + run,
	})
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	fmt.Fprintf(out, "created user %s (%s)\n", user.GetId(), user.GetUsername())

	login, err := auth.Login(ctx, &userv1.LoginRequest{Username: user.GetUsername(), Password: password})
	if err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	token := bearer(login.GetAccessToken())
	fmt.Fprintf(out, "logged in, %s token valid for %ds\n", login.GetTokenType(), login.GetExpiresIn())

	// Every service verifies the token itself, so each connection carries
	// it on every call (per-RPC credentials). The token lives 15 minutes,
	// longer than this program; a long-running client would log in again
	// or use AuthService.Refresh before it expires.
	if _, err := users.GetUser(ctx, &userv1.GetUserRequest{Id: user.GetId()}, grpc.PerRPCCredentials(token)); err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	for _, addr := range []string{*billingAddr, *orderAddr, *notificationAddr} {
		c, err := dial(addr, grpc.WithPerRPCCredentials(token))
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	billing := billingv1.NewBillingServiceClient(conns[1])
	orders := orderv1.NewOrderServiceClient(conns[2])
	letters := notificationv1.NewNotificationServiceClient(conns[3])

	dep, err := billing.Deposit(ctx, &billingv1.DepositRequest{UserId: user.GetId(), Amount: 5000, RequestId: "example-deposit-" + run})
	if err != nil {
		return fmt.Errorf("deposit: %w", err)
	}
	fmt.Fprintf(out, "deposited 5000, balance %d %s\n", dep.GetAccount().GetBalance(), dep.GetAccount().GetCurrency())

	order, err := orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{
		UserId: user.GetId(), Order: &orderv1.Order{Price: 1999}, RequestId: "example-order-" + run,
	})
	if err != nil {
		return fmt.Errorf("create order: %w", err)
	}
	fmt.Fprintf(out, "order %s: %s\n", order.GetId(), order.GetStatus())

	// With an amount, CancelOrder refunds part of the price and the order
	// stays paid; a partial refund needs a request_id, so a retry cannot
	// refund twice.
	part, err := orders.CancelOrder(ctx, &orderv1.CancelOrderRequest{
		UserId: user.GetId(), Id: order.GetId(), Amount: proto.Int64(500), Reason: "one item broken", RequestId: "example-refund-" + run,
	})
	if err != nil {
		return fmt.Errorf("partial refund: %w", err)
	}
	afterPart, err := billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: user.GetId()})
	if err != nil {
		return fmt.Errorf("get account: %w", err)
	}
	fmt.Fprintf(out, "order %s: %s, %d refunded, balance %d %s\n", part.GetId(), part.GetStatus(),
		part.GetRefunded(), afterPart.GetBalance(), afterPart.GetCurrency())

	// Cancelling the paid order refunds the rest of its price; the same
	// request_id makes a retry of the cancel a no-op that answers the same
	// order.
	cancelled, err := orders.CancelOrder(ctx, &orderv1.CancelOrderRequest{
		UserId: user.GetId(), Id: order.GetId(), Reason: "changed my mind", RequestId: "example-cancel-" + run,
	})
	if err != nil {
		return fmt.Errorf("cancel order: %w", err)
	}
	acct, err := billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: user.GetId()})
	if err != nil {
		return fmt.Errorf("get account: %w", err)
	}
	fmt.Fprintf(out, "order %s: %s, %d refunded, balance %d %s\n", cancelled.GetId(), cancelled.GetStatus(),
		cancelled.GetRefunded(), acct.GetBalance(), acct.GetCurrency())

	list, err := letters.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: user.GetId()})
	if err != nil {
		return fmt.Errorf("list notifications: %w", err)
	}
	for _, n := range list.GetNotifications() {
		fmt.Fprintf(out, "letter to %s: %s\n", n.GetEmail(), n.GetSubject())
	}
	switch {
	case order.GetStatus() != orderv1.Order_STATUS_PAID:
		return fmt.Errorf("unexpected outcome: order %s", order.GetStatus())
	case part.GetStatus() != orderv1.Order_STATUS_PAID || part.GetRefunded() != 500 || afterPart.GetBalance() != dep.GetAccount().GetBalance()-order.GetPrice()+500:
		return fmt.Errorf("unexpected partial refund: %s, %d refunded, balance %d", part.GetStatus(), part.GetRefunded(), afterPart.GetBalance())
	case cancelled.GetStatus() != orderv1.Order_STATUS_CANCELLED || cancelled.GetRefunded() != order.GetPrice():
		return fmt.Errorf("unexpected cancellation: %s, %d refunded of %d", cancelled.GetStatus(), cancelled.GetRefunded(), order.GetPrice())
	case acct.GetBalance() != dep.GetAccount().GetBalance():
		return fmt.Errorf("balance %d after the refund, want the deposit's %d", acct.GetBalance(), dep.GetAccount().GetBalance())
	case len(list.GetNotifications()) != 3:
		return fmt.Errorf("%d letters, want the paid one, the partial refund and the cancellation", len(list.GetNotifications()))
	}
	return nil
}

// bearer is an access token as gRPC per-RPC credentials: the
// "authorization: Bearer <token>" metadata every kassa service checks.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false only because the example dials the
// local stack in plaintext; against a deployment, dial with TLS and return
// true, so the token is never sent in the clear.
func (bearer) RequireTransportSecurity() bool { return false }

var _ credentials.PerRPCCredentials = bearer("")

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
