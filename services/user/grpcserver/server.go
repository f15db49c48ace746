// Package grpcserver exposes the user use cases as the
// kassa.user.v1.UserService gRPC API. It converts between protobuf and
// domain types and checks whose record a call may touch (access.go, with
// the rule table in rules.go); errors are mapped by the platform's server
// interceptor.
package grpcserver

import (
	"context"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/app"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server implements userv1.UserServiceServer.
type Server struct {
	userv1.UnimplementedUserServiceServer
	app *app.Service
}

// New returns a Server over the use cases.
func New(a *app.Service) *Server {
	return &Server{app: a}
}

// CreateUser registers a user and opens its billing account.
func (s *Server) CreateUser(ctx context.Context, req *userv1.CreateUserRequest) (*userv1.User, error) {
	u, err := s.app.Create(ctx, fromProto(req.GetUser()), req.GetUser().GetPassword(), req.GetRequestId())
	return toProto(u), err
}

// GetUser returns a live user.
func (s *Server) GetUser(ctx context.Context, req *userv1.GetUserRequest) (*userv1.User, error) {
	if err := authorize(ctx, s.app, "id", req.GetId()); err != nil {
		return nil, err
	}
	u, err := s.app.Get(ctx, req.GetId())
	return toProto(u), err
}

// ListUsers lists live users, oldest first.
func (s *Server) ListUsers(ctx context.Context, req *userv1.ListUsersRequest) (*userv1.ListUsersResponse, error) {
	if err := authorizeAdmin(ctx, s.app); err != nil {
		return nil, err
	}
	p, err := s.app.List(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &userv1.ListUsersResponse{NextPageToken: p.NextPageToken}
	for _, u := range p.Users {
		resp.Users = append(resp.Users, toProto(u))
	}
	return resp, nil
}

// UpdateUser changes the fields named in update_mask.
func (s *Server) UpdateUser(ctx context.Context, req *userv1.UpdateUserRequest) (*userv1.User, error) {
	if err := authorize(ctx, s.app, "user.id", req.GetUser().GetId()); err != nil {
		return nil, err
	}
	in := fromProto(req.GetUser())
	in.ID = req.GetUser().GetId()
	u, err := s.app.Update(ctx, in, req.GetUpdateMask().GetPaths())
	return toProto(u), err
}

// DeleteUser soft-deletes a user and closes its billing account.
func (s *Server) DeleteUser(ctx context.Context, req *userv1.DeleteUserRequest) (*userv1.User, error) {
	if err := authorize(ctx, s.app, "id", req.GetId()); err != nil {
		return nil, err
	}
	u, err := s.app.Delete(ctx, req.GetId())
	return toProto(u), err
}

// fromProto takes the client-set profile fields; id and times are output
// only, and the password is handed to the use case on its own.
func fromProto(p *userv1.User) user.User {
	return user.User{
		Username:  p.GetUsername(),
		Email:     p.GetEmail(),
		FirstName: p.GetFirstName(),
		LastName:  p.GetLastName(),
		Phone:     p.GetPhone(),
	}
}

// AdminServer implements userv1.UserAdminServiceServer: the operator's
// view of users the repair loop parked. It is served on the same listener
// as the UserService; the gateway has no route to it.
type AdminServer struct {
	userv1.UnimplementedUserAdminServiceServer
	app *app.Service
}

// NewAdmin returns an AdminServer over the use cases.
func NewAdmin(a *app.Service) *AdminServer {
	return &AdminServer{app: a}
}

// ListParked lists parked users, the most recently parked first.
func (s *AdminServer) ListParked(ctx context.Context, req *userv1.ListParkedRequest) (*userv1.ListParkedResponse, error) {
	if err := authorizeAdmin(ctx, s.app); err != nil {
		return nil, err
	}
	p, err := s.app.ListParked(ctx, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &userv1.ListParkedResponse{NextPageToken: p.NextPageToken}
	for _, u := range p.Users {
		resp.Users = append(resp.Users, &userv1.ParkedUser{
			UserId:    u.UserID,
			Attempts:  int32(u.Attempts),
			LastError: u.LastError,
			ParkTime:  timestamppb.New(u.ParkTime),
		})
	}
	return resp, nil
}

// RetryParked releases parked users to the repair loop.
func (s *AdminServer) RetryParked(ctx context.Context, req *userv1.RetryParkedRequest) (*userv1.RetryParkedResponse, error) {
	if err := authorizeAdmin(ctx, s.app); err != nil {
		return nil, err
	}
	n, err := s.app.RetryParked(ctx, req.GetUserIds())
	if err != nil {
		return nil, err
	}
	return &userv1.RetryParkedResponse{Released: int32(n)}, nil
}

// toProto returns nil for the zero user, so handlers can return it with an
// error. It never sets password, which is input only.
func toProto(u user.User) *userv1.User {
	if u.ID == "" {
		return nil
	}
	return &userv1.User{
		Id:         u.ID,
		Username:   u.Username,
		Email:      u.Email,
		FirstName:  u.FirstName,
		LastName:   u.LastName,
		Phone:      u.Phone,
		CreateTime: timestamppb.New(u.CreateTime),
		UpdateTime: timestamppb.New(u.UpdateTime),
		DeleteTime: optionalTime(u.DeleteTime),
	}
}

func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
