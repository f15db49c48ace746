// Package grpcserver exposes the order use cases as the
// kassa.order.v1.OrderService gRPC API. It converts between protobuf and
// domain types and checks whose orders the caller may touch (rules.go);
// errors are mapped by the platform's server interceptor.
package grpcserver

import (
	"context"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server implements orderv1.OrderServiceServer.
type Server struct {
	orderv1.UnimplementedOrderServiceServer
	app *app.Service
}

// New returns a Server over the use cases.
func New(a *app.Service) *Server {
	return &Server{app: a}
}

// CreateOrder places an order and pays for it.
func (s *Server) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.Order, error) {
	in := req.GetOrder() // price and currency are input; of the rest only request_id is read
	userID, err := buyer(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	key, err := requestID(req)
	if err != nil {
		return nil, err
	}
	o, err := s.app.Create(ctx, userID, in.GetPrice(), in.GetCurrency(), key)
	if err != nil {
		return nil, err
	}
	return toProto(o), nil
}

// requestID is the idempotency key of a CreateOrder call. It is the
// request's request_id; a client that put it into the order instead (the
// field is output-only there, but a gRPC client can set it, and REST bodies
// used to be decoded into the order) gets it honoured rather than silently
// dropped, which would make each retry a new order and a new debit. Two
// different keys in one request are refused: either could be the one the
// client retries with.
func requestID(req *orderv1.CreateOrderRequest) (string, error) {
	top, inner := req.GetRequestId(), req.GetOrder().GetRequestId()
	switch {
	case top == "":
		return inner, nil
	case inner != "" && inner != top:
		return "", apperr.Invalid("request_id", "request_id %q and order.request_id %q differ; send one key", top, inner)
	}
	return top, nil
}

// GetOrder returns one order of a user; another customer's order is
// ORDER_NOT_FOUND, like a missing one.
func (s *Server) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.Order, error) {
	userID, err := reader(ctx, req.GetUserId(), func(string) error { return order.ErrNotFound })
	if err != nil {
		return nil, err
	}
	o, err := s.app.Get(ctx, userID, req.GetId())
	if err != nil {
		return nil, err
	}
	return toProto(o), nil
}

// ListOrders lists a user's orders, newest first; another customer's
// list, and an admin's list of a user that never existed, is
// USER_NOT_FOUND.
func (s *Server) ListOrders(ctx context.Context, req *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
	userID, err := reader(ctx, req.GetUserId(), order.ErrUserNotFound)
	if err != nil {
		return nil, err
	}
	p, err := s.app.List(ctx, userID, req.GetPageSize(), req.GetPageToken(), isCaller(ctx, userID))
	if err != nil {
		return nil, err
	}
	resp := &orderv1.ListOrdersResponse{NextPageToken: p.NextPageToken}
	for _, o := range p.Orders {
		resp.Orders = append(resp.Orders, toProto(o))
	}
	return resp, nil
}

// CancelOrder cancels a paid order and refunds it, or with amount refunds
// part of it. The owner or an admin
// may (an admin answers customers who cannot), as they may read it;
// another customer's order is ORDER_NOT_FOUND, like a missing one.
func (s *Server) CancelOrder(ctx context.Context, req *orderv1.CancelOrderRequest) (*orderv1.Order, error) {
	userID, err := reader(ctx, req.GetUserId(), func(string) error { return order.ErrNotFound })
	if err != nil {
		return nil, err
	}
	var o order.Order
	if req.Amount != nil { // proto3 optional: absent is "the rest", an explicit 0 is refused
		o, err = s.app.PartialRefund(ctx, userID, req.GetId(), req.GetAmount(), req.GetReason(), req.GetRequestId())
	} else {
		o, err = s.app.Cancel(ctx, userID, req.GetId(), req.GetReason(), req.GetRequestId())
	}
	if err != nil {
		return nil, err
	}
	return toProto(o), nil
}

var statuses = map[order.Status]orderv1.Order_Status{
	order.Pending:   orderv1.Order_STATUS_PENDING,
	order.Paid:      orderv1.Order_STATUS_PAID,
	order.Rejected:  orderv1.Order_STATUS_REJECTED,
	order.Cancelled: orderv1.Order_STATUS_CANCELLED,
}

func toProto(o order.Order) *orderv1.Order {
	p := &orderv1.Order{
		Id:            o.ID,
		UserId:        o.UserID,
		Price:         o.Price,
		Currency:      o.Currency,
		Status:        statuses[o.Status], // unknown values show as UNSPECIFIED
		FailureReason: o.FailureReason,
		RequestId:     o.RequestID,
		CreateTime:    timestamppb.New(o.CreateTime),
		UpdateTime:    timestamppb.New(o.UpdateTime),
		Refunded:      o.Refunded, // what billing confirmed; refunds still being made are not counted
	}
	if o.Status == order.Cancelled { // a cancellation still being refunded is not shown
		p.CancelReason, p.CancelTime = o.CancelReason, timestamppb.New(o.CancelTime)
	}
	return p
}
