// Package grpcserver exposes the notification use cases as the
// kassa.notification.v1.NotificationService gRPC API. It only converts
// between protobuf and domain types; errors are mapped by the platform's
// server interceptor.
package grpcserver

import (
	"context"

	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	"github.com/kassa-dev/kassa/services/notification"
	"github.com/kassa-dev/kassa/services/notification/app"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server implements notificationv1.NotificationServiceServer.
type Server struct {
	notificationv1.UnimplementedNotificationServiceServer
	app *app.Service
}

// New returns a Server over the use cases.
func New(a *app.Service) *Server {
	return &Server{app: a}
}

// SendNotification stores a letter.
func (s *Server) SendNotification(ctx context.Context, req *notificationv1.SendNotificationRequest) (*notificationv1.Notification, error) {
	in := req.GetNotification()
	n, err := s.app.Send(ctx, notification.Notification{
		UserID:    req.GetUserId(), // notification.user_id is output only
		Email:     in.GetEmail(),
		Subject:   in.GetSubject(),
		Body:      in.GetBody(),
		OrderID:   in.GetOrderId(),
		RequestID: req.GetRequestId(),
	})
	if err != nil {
		return nil, err
	}
	return toProto(n), nil
}

// GetNotification returns one letter of a user.
func (s *Server) GetNotification(ctx context.Context, req *notificationv1.GetNotificationRequest) (*notificationv1.Notification, error) {
	if err := owner(ctx, req.GetUserId()); err != nil {
		return nil, err
	}
	n, err := s.app.Get(ctx, req.GetUserId(), req.GetId())
	if err != nil {
		return nil, err
	}
	return toProto(n), nil
}

// ListNotifications lists a user's letters, newest first.
func (s *Server) ListNotifications(ctx context.Context, req *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	if err := owner(ctx, req.GetUserId()); err != nil {
		return nil, err
	}
	p, err := s.app.List(ctx, req.GetUserId(), req.GetPageSize(), req.GetPageToken(), isCaller(ctx, req.GetUserId()))
	if err != nil {
		return nil, err
	}
	resp := &notificationv1.ListNotificationsResponse{NextPageToken: p.NextPageToken}
	for _, n := range p.Notifications {
		resp.Notifications = append(resp.Notifications, toProto(n))
	}
	return resp, nil
}

// owner lets the call through when the verified caller may read userID's
// letters (that customer, or an admin); anyone else gets the letter's own
// NOT_FOUND, so another user's mailbox looks like an empty or missing one.
// A malformed user_id is INVALID_ARGUMENT first: that reveals nothing, and
// the comparison is made on the canonical id the store would use.
func owner(ctx context.Context, userID string) error {
	id, err := validate.ID("user_id", userID)
	if err != nil {
		return err
	}
	return auth.Owner(ctx, id, notification.ErrNotFound)
}

// isCaller reports whether the verified caller is the user userID (its
// token names it), who therefore exists. The id is compared canonically,
// as owner does.
func isCaller(ctx context.Context, userID string) bool {
	id, err := validate.ID("user_id", userID)
	p, _ := auth.FromContext(ctx)
	return err == nil && p.UserID != "" && p.UserID == id
}

func toProto(n notification.Notification) *notificationv1.Notification {
	return &notificationv1.Notification{
		Id:         n.ID,
		UserId:     n.UserID,
		Email:      n.Email,
		Subject:    n.Subject,
		Body:       n.Body,
		OrderId:    n.OrderID,
		CreateTime: timestamppb.New(n.CreateTime),
	}
}
