package grpcserver

import (
	"context"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AdminServer implements orderv1.OrderAdminServiceServer: the operators'
// view of the background work that was parked. It is served on the same
// gRPC server as the customer API but has no REST route.
type AdminServer struct {
	orderv1.UnimplementedOrderAdminServiceServer
	app *app.Service
}

// NewAdmin returns an AdminServer over the use cases.
func NewAdmin(a *app.Service) *AdminServer { return &AdminServer{app: a} }

var steps = map[order.Step]orderv1.ParkedItem_Step{
	order.StepPayment: orderv1.ParkedItem_STEP_PAYMENT,
	order.StepLetter:  orderv1.ParkedItem_STEP_LETTER,
	order.StepRefund:  orderv1.ParkedItem_STEP_REFUND,
}

// ListParked lists parked items, the most recently parked first.
func (s *AdminServer) ListParked(ctx context.Context, req *orderv1.ListParkedRequest) (*orderv1.ListParkedResponse, error) {
	p, err := s.app.ListParked(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &orderv1.ListParkedResponse{NextPageToken: p.NextPageToken}
	for _, it := range p.Items {
		resp.Items = append(resp.Items, &orderv1.ParkedItem{
			Step: steps[it.Step], OrderId: it.OrderID, UserId: it.UserID,
			Attempts: int32(it.Attempts), LastError: it.LastError, ParkTime: timestamppb.New(it.ParkTime),
		})
	}
	return resp, nil
}

// RetryParked releases parked items for the loops to try again at once.
func (s *AdminServer) RetryParked(ctx context.Context, req *orderv1.RetryParkedRequest) (*orderv1.RetryParkedResponse, error) {
	n, err := s.app.RetryParked(ctx, req.GetOrderIds())
	if err != nil {
		return nil, err
	}
	return &orderv1.RetryParkedResponse{Released: int32(n)}, nil
}
