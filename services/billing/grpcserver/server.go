// Package grpcserver exposes the billing use cases as the
// kassa.billing.v1.BillingService gRPC API. It converts between protobuf
// and domain types and decides, from the verified caller, whose account a
// call may touch (Rules says who may call at all); errors are mapped by the
// platform's server interceptor.
package grpcserver

import (
	"context"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/app"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server implements billingv1.BillingServiceServer.
type Server struct {
	billingv1.UnimplementedBillingServiceServer
	app *app.Service
}

// New returns a Server over the use cases.
func New(a *app.Service) *Server {
	return &Server{app: a}
}

// CreateAccount opens a user's account, or returns the existing one.
func (s *Server) CreateAccount(ctx context.Context, req *billingv1.CreateAccountRequest) (*billingv1.Account, error) {
	user, err := owned(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	a, err := s.app.CreateAccount(ctx, user, req.GetCurrency())
	if err != nil {
		return nil, err
	}
	return accountProto(a), nil
}

// GetAccount returns a user's account.
func (s *Server) GetAccount(ctx context.Context, req *billingv1.GetAccountRequest) (*billingv1.Account, error) {
	user, err := owned(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	a, err := s.app.GetAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return accountProto(a), nil
}

// CloseAccount closes a user's account.
func (s *Server) CloseAccount(ctx context.Context, req *billingv1.CloseAccountRequest) (*billingv1.Account, error) {
	user, err := owned(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	a, err := s.app.CloseAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return accountProto(a), nil
}

// Deposit adds money to an account.
func (s *Server) Deposit(ctx context.Context, req *billingv1.DepositRequest) (*billingv1.DepositResponse, error) {
	user, err := owned(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	if err := checkMover(ctx, user); err != nil {
		return nil, err
	}
	r, err := s.app.Deposit(ctx, user, req.GetAmount(), req.GetCurrency(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.DepositResponse{Account: accountProto(r.Account), Transaction: transactionProto(r.Transaction)}, nil
}

// Withdraw takes money from an account.
func (s *Server) Withdraw(ctx context.Context, req *billingv1.WithdrawRequest) (*billingv1.WithdrawResponse, error) {
	if err := checkPayer(ctx, req.GetOrderId()); err != nil {
		return nil, err
	}
	user, err := owned(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	if req.GetOrderId() == "" { // an order's payment is checked by checkPayer
		if err := checkMover(ctx, user); err != nil {
			return nil, err
		}
	}
	r, err := s.app.Withdraw(ctx, user, req.GetAmount(), req.GetCurrency(), req.GetRequestId(), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &billingv1.WithdrawResponse{Account: accountProto(r.Account), Transaction: transactionProto(r.Transaction)}, nil
}

// Refund gives back money a withdrawal of an account took. Only the order
// service calls it (Rules); the withdrawal must be of the named account,
// which the store checks under the account's lock.
func (s *Server) Refund(ctx context.Context, req *billingv1.RefundRequest) (*billingv1.RefundResponse, error) {
	user, err := owned(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	r, err := s.app.Refund(ctx, app.RefundRequest{
		UserID: user, TransactionID: req.GetTransactionId(), OrderID: req.GetOrderId(),
		Amount: req.GetAmount(), RequestID: req.GetRequestId(), Reason: req.GetReason(),
	})
	if err != nil {
		return nil, err
	}
	return &billingv1.RefundResponse{Account: accountProto(r.Account), Transaction: transactionProto(r.Transaction)}, nil
}

// ListTransactions lists an account's ledger, newest first.
func (s *Server) ListTransactions(ctx context.Context, req *billingv1.ListTransactionsRequest) (*billingv1.ListTransactionsResponse, error) {
	user, err := owned(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	p, err := s.app.ListTransactions(ctx, user, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &billingv1.ListTransactionsResponse{NextPageToken: p.NextPageToken}
	for _, t := range p.Transactions {
		resp.Transactions = append(resp.Transactions, transactionProto(t))
	}
	return resp, nil
}

// owned returns userID in canonical form when the caller may act on that
// account: its customer, an admin, or a service the method's rule admits.
// Anyone else gets exactly the answer of a missing account. The id is
// checked first, so a malformed one is INVALID_ARGUMENT for everyone and an
// upper-case spelling of the caller's own id is still theirs.
func owned(ctx context.Context, userID string) (string, error) {
	id, err := validate.ID("user_id", userID)
	if err != nil {
		return "", err
	}
	if err := auth.Owner(ctx, id, billing.AccountNotFound(id)); err != nil {
		return "", err
	}
	return id, nil
}

// checkPayer refuses a withdrawal its caller may not make, before anything
// is read, so it changes nothing and tells nothing about the account. An
// order's payment (order_id set) comes from the order service only: a
// customer who could set order_id could take an order's payment key, and
// the order's history would show a payment the order service never made.
// The order service, for its part, withdraws only to pay orders.
func checkPayer(ctx context.Context, orderID string) error {
	p, _ := auth.FromContext(ctx)
	switch {
	case orderID != "" && !p.IsService("order"):
		return auth.Denied("order_id is set by the order service only; leave it empty to withdraw from your own account")
	case orderID == "" && p.IsService():
		return auth.Denied("a service withdraws only to pay an order: order_id is required")
	}
	return nil
}

// checkMover refuses a deposit or withdrawal by anyone but the account's
// own customer: an admin may read every account (owned lets it through),
// but money moves only by its owner's hand or to pay the owner's order.
func checkMover(ctx context.Context, userID string) error {
	if p, _ := auth.FromContext(ctx); p.UserID != userID {
		return auth.Denied("only the account's owner moves its money; admins may read it")
	}
	return nil
}

func accountProto(a billing.Account) *billingv1.Account {
	out := &billingv1.Account{
		UserId:     a.UserID,
		Balance:    a.Balance,
		Currency:   a.Currency,
		CreateTime: timestamppb.New(a.CreateTime),
		UpdateTime: timestamppb.New(a.UpdateTime),
	}
	if a.Closed() {
		out.CloseTime = timestamppb.New(a.CloseTime)
	}
	return out
}

var kinds = map[billing.Kind]billingv1.Transaction_Kind{
	billing.Deposit:    billingv1.Transaction_KIND_DEPOSIT,
	billing.Withdrawal: billingv1.Transaction_KIND_WITHDRAWAL,
	billing.Refund:     billingv1.Transaction_KIND_REFUND,
}

func transactionProto(t billing.Transaction) *billingv1.Transaction {
	return &billingv1.Transaction{
		Id:           t.ID,
		UserId:       t.UserID,
		Kind:         kinds[t.Kind], // the schema admits no other kinds
		Amount:       t.Amount,
		Currency:     t.Currency,
		BalanceAfter: t.BalanceAfter,
		RequestId:    t.RequestID,
		OrderId:      t.OrderID,
		RefundOf:     t.RefundOf,
		RefundReason: t.RefundReason,
		CreateTime:   timestamppb.New(t.CreateTime),
	}
}
