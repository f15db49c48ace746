// Package grpcserver exposes the billing use cases as the
// kassa.billing.v1.BillingService gRPC API. It only converts between
// protobuf and domain types; errors are mapped by the platform's server
// interceptor.
package grpcserver

import (
	"context"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/app"
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
	a, err := s.app.CreateAccount(ctx, req.GetUserId(), req.GetCurrency())
	if err != nil {
		return nil, err
	}
	return accountProto(a), nil
}

// GetAccount returns a user's account.
func (s *Server) GetAccount(ctx context.Context, req *billingv1.GetAccountRequest) (*billingv1.Account, error) {
	a, err := s.app.GetAccount(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return accountProto(a), nil
}

// CloseAccount closes a user's account.
func (s *Server) CloseAccount(ctx context.Context, req *billingv1.CloseAccountRequest) (*billingv1.Account, error) {
	a, err := s.app.CloseAccount(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return accountProto(a), nil
}

// Deposit adds money to an account.
func (s *Server) Deposit(ctx context.Context, req *billingv1.DepositRequest) (*billingv1.DepositResponse, error) {
	r, err := s.app.Deposit(ctx, req.GetUserId(), req.GetAmount(), req.GetCurrency(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.DepositResponse{Account: accountProto(r.Account), Transaction: transactionProto(r.Transaction)}, nil
}

// Withdraw takes money from an account.
func (s *Server) Withdraw(ctx context.Context, req *billingv1.WithdrawRequest) (*billingv1.WithdrawResponse, error) {
	r, err := s.app.Withdraw(ctx, req.GetUserId(), req.GetAmount(), req.GetCurrency(), req.GetRequestId(), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &billingv1.WithdrawResponse{Account: accountProto(r.Account), Transaction: transactionProto(r.Transaction)}, nil
}

// ListTransactions lists an account's ledger, newest first.
func (s *Server) ListTransactions(ctx context.Context, req *billingv1.ListTransactionsRequest) (*billingv1.ListTransactionsResponse, error) {
	p, err := s.app.ListTransactions(ctx, req.GetUserId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &billingv1.ListTransactionsResponse{NextPageToken: p.NextPageToken}
	for _, t := range p.Transactions {
		resp.Transactions = append(resp.Transactions, transactionProto(t))
	}
	return resp, nil
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
		CreateTime:   timestamppb.New(t.CreateTime),
	}
}
