package grpcserver

import (
	"context"
	"errors"
	"math"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/token"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// AuthServer implements userv1.AuthServiceServer.
type AuthServer struct {
	userv1.UnimplementedAuthServiceServer
	auth *app.Auth
}

// NewAuth returns an AuthServer over the auth use cases.
func NewAuth(a *app.Auth) *AuthServer {
	return &AuthServer{auth: a}
}

// Login checks a password and starts a session.
func (s *AuthServer) Login(ctx context.Context, req *userv1.LoginRequest) (*userv1.TokenResponse, error) {
	t, err := s.auth.Login(ctx, req.GetUsername(), req.GetPassword())
	return tokens(t.Access, t.Refresh, err)
}

// Refresh rotates a refresh token.
func (s *AuthServer) Refresh(ctx context.Context, req *userv1.RefreshRequest) (*userv1.TokenResponse, error) {
	t, err := s.auth.Refresh(ctx, req.GetRefreshToken())
	return tokens(t.Access, t.Refresh, err)
}

// Logout revokes a session.
func (s *AuthServer) Logout(ctx context.Context, req *userv1.LogoutRequest) (*userv1.LogoutResponse, error) {
	if err := s.auth.Logout(ctx, req.GetRefreshToken()); err != nil {
		return nil, authStatus(err)
	}
	return &userv1.LogoutResponse{}, nil
}

// Token is the client credentials grant.
func (s *AuthServer) Token(ctx context.Context, req *userv1.TokenRequest) (*userv1.TokenResponse, error) {
	a, err := s.auth.Token(ctx, req.GetGrantType(), req.GetClientId(), req.GetClientSecret())
	return tokens(a, "", err)
}

func tokens(a token.Access, refresh string, err error) (*userv1.TokenResponse, error) {
	if err != nil {
		return nil, authStatus(err)
	}
	return &userv1.TokenResponse{
		AccessToken:  a.Token,
		TokenType:    "Bearer",
		ExpiresIn:    int64(a.TTL / time.Second),
		RefreshToken: refresh,
	}, nil
}

// authStatus maps the authentication errors, whose codes apperr has no
// kind for, to statuses; every other error goes on to the platform's
// mapping (grpcstatus.ToStatus) unchanged. A lock carries a RetryInfo, which
// the gateway turns into Retry-After.
func authStatus(err error) error {
	var e *user.AuthError
	if !errors.As(err, &e) {
		return err
	}
	code := codes.Unauthenticated
	var details []protoadapt.MessageV1
	if e.Kind == user.AuthLocked {
		code = codes.ResourceExhausted
		wait := math.Ceil(time.Until(e.Until).Seconds())
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(max(wait, 1)) * time.Second)})
	}
	details = append(details, &errdetails.ErrorInfo{Reason: e.Reason, Domain: apperr.Domain})
	st := status.New(code, e.Message)
	if withDetails, derr := st.WithDetails(details...); derr == nil {
		st = withDetails
	}
	return st.Err()
}
