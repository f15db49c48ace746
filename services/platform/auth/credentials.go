package auth

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// PerRPCCredentials attaches "authorization: Bearer <token>" from ts to
// every call, except calls made with a WithoutToken context (the token
// fetch itself). A token that cannot be had fails the call UNAVAILABLE, so
// the retry policy and the callers' repair loops try again later.
func PerRPCCredentials(ts TokenSource) credentials.PerRPCCredentials { return perRPC{ts} }

type perRPC struct{ ts TokenSource }

func (p perRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if withoutToken(ctx) {
		return nil, nil
	}
	tok, _, err := p.ts.Token(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "get service token: %v", err)
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity is false: kassa's services talk plaintext gRPC
// inside the cluster (the network boundary, and a mesh where one is
// deployed, protect that hop). A short-lived token on such a hop is no
// worse than the plaintext request it authorizes, and refusing to send it
// would leave every peer call unauthenticated instead.
func (perRPC) RequireTransportSecurity() bool { return false }
