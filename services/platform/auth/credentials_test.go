package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A connection with PerRPCCredentials calls as the service its token
// names; a WithoutToken call on it goes without.
func TestPerRPCCredentials_CallsAsTheService(t *testing.T) {
	iss := authtest.NewIssuer(t)
	tok := iss.Service(t, "order")
	conn := authtest.Serve(t, iss.Verifier(t), whoamiRules, func(s *grpc.Server) { s.RegisterService(&whoamiDesc, struct{}{}) },
		grpc.WithPerRPCCredentials(auth.PerRPCCredentials(authtest.StaticTokenSource(tok))))
	var out wrapperspb.StringValue
	if err := conn.Invoke(context.Background(), "/test.Whoami/Order", &emptypb.Empty{}, &out); err != nil || out.GetValue() != "service:order" {
		t.Fatalf("call with per-RPC credentials = %q, %v", out.GetValue(), err)
	}
	err := conn.Invoke(auth.WithoutToken(context.Background()), "/test.Whoami/Order", &emptypb.Empty{}, &out)
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("WithoutToken call = %v, want UNAUTHENTICATED", err)
	}
	if auth.PerRPCCredentials(nil).RequireTransportSecurity() {
		t.Error("RequireTransportSecurity = true; kassa's peer hops are plaintext")
	}
}

func TestPerRPCCredentials_NoToken_Unavailable(t *testing.T) {
	iss := authtest.NewIssuer(t)
	down := auth.TokenSourceFunc(func(context.Context) (string, time.Time, error) { return "", time.Time{}, errors.New("issuer down") })
	conn := authtest.Serve(t, iss.Verifier(t), whoamiRules, func(s *grpc.Server) { s.RegisterService(&whoamiDesc, struct{}{}) },
		grpc.WithPerRPCCredentials(auth.PerRPCCredentials(down)))
	err := conn.Invoke(context.Background(), "/test.Whoami/Order", &emptypb.Empty{}, &wrapperspb.StringValue{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("call without a token to be had = %v, want UNAVAILABLE", err)
	}
}
