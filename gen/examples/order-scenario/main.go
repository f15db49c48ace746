// Command order-scenario shows the kassa Go client library on its own: it
// dials the four services with the generated gRPC clients, creates a user,
// deposits money, places an order and lists the user's letters.
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
	"google.golang.org/grpc/credentials/insecure"
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

	dial := func(addr string) (*grpc.ClientConn, error) {
		return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	conns := make([]*grpc.ClientConn, 0, 4)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, addr := range []string{*userAddr, *billingAddr, *orderAddr, *notificationAddr} {
		c, err := dial(addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	users := userv1.NewUserServiceClient(conns[0])
	billing := billingv1.NewBillingServiceClient(conns[1])
	orders := orderv1.NewOrderServiceClient(conns[2])
	letters := notificationv1.NewNotificationServiceClient(conns[3])

	run := randomID()
	user, err := users.CreateUser(ctx, &userv1.CreateUserRequest{
		User:      &userv1.User{Username: "example-" + run, Email: "example-" + run + "@example.com", FirstName: "Grace"},
		RequestId: "example-user-" + run,
	})
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	fmt.Fprintf(out, "created user %s (%s)\n", user.GetId(), user.GetUsername())

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

	list, err := letters.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: user.GetId()})
	if err != nil {
		return fmt.Errorf("list notifications: %w", err)
	}
	for _, n := range list.GetNotifications() {
		fmt.Fprintf(out, "letter to %s: %s\n", n.GetEmail(), n.GetSubject())
	}
	if order.GetStatus() != orderv1.Order_STATUS_PAID || len(list.GetNotifications()) != 1 {
		return fmt.Errorf("unexpected outcome: order %s, %d letters", order.GetStatus(), len(list.GetNotifications()))
	}
	return nil
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
