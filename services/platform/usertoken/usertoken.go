// Package usertoken gets a kassa service its own access token from the
// user service, kassa's identity provider: the client credentials grant of
// AuthService.Token. It is the boot.TokenExchange of every service that
// calls peers with its own identity.
package usertoken

import (
	"context"
	"time"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"google.golang.org/grpc"
)

// Exchange asks AuthService.Token on conn (the user service) for the token
// of client id; the call itself goes without a token.
func Exchange(conn grpc.ClientConnInterface) func(ctx context.Context, id, secret string) (string, time.Duration, error) {
	tokens := userv1.NewAuthServiceClient(conn)
	return func(ctx context.Context, id, secret string) (string, time.Duration, error) {
		resp, err := tokens.Token(ctx, &userv1.TokenRequest{GrantType: "client_credentials", ClientId: id, ClientSecret: secret})
		return resp.GetAccessToken(), time.Duration(resp.GetExpiresIn()) * time.Second, err
	}
}
