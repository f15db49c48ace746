package usertoken_test

import (
	"context"
	"testing"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/usertoken"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// issuer answers the client credentials grant of one client.
type issuer struct {
	userv1.UnimplementedAuthServiceServer
	got *userv1.TokenRequest
}

func (i *issuer) Token(_ context.Context, r *userv1.TokenRequest) (*userv1.TokenResponse, error) {
	i.got = r
	if r.GetClientId() != "order" || r.GetClientSecret() != "s3cret" {
		return nil, status.Error(codes.Unauthenticated, "unknown client")
	}
	return &userv1.TokenResponse{AccessToken: "tok", ExpiresIn: 300}, nil
}

func TestExchange(t *testing.T) {
	is := &issuer{}
	conn := grpctest.Serve(t, func(s *grpc.Server) { userv1.RegisterAuthServiceServer(s, is) })
	exchange := usertoken.Exchange(conn)

	token, ttl, err := exchange(context.Background(), "order", "s3cret")
	if err != nil || token != "tok" || ttl != 5*time.Minute {
		t.Fatalf("exchange = %q, %v, %v; want tok, 5m0s, nil", token, ttl, err)
	}
	if g := is.got.GetGrantType(); g != "client_credentials" {
		t.Errorf("grant_type %q, want client_credentials", g)
	}
	token, _, err = exchange(context.Background(), "order", "wrong")
	if status.Code(err) != codes.Unauthenticated || token != "" {
		t.Errorf("wrong secret: %q, %v; want no token and Unauthenticated", token, err)
	}
}
