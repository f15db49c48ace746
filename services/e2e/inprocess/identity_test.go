package inprocess

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/gateway"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	billingwire "github.com/kassa-dev/kassa/services/billing/wire"
	notificationwire "github.com/kassa-dev/kassa/services/notification/wire"
	orderwire "github.com/kassa-dev/kassa/services/order/wire"
	"github.com/kassa-dev/kassa/services/platform/auth"
	userapp "github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/keys"
	"github.com/kassa-dev/kassa/services/user/token"
	userwire "github.com/kassa-dev/kassa/services/user/wire"
)

// rules are the services' access tables, from the Spec their binaries and
// the all-in-one process run.
var rules = map[string]map[string]auth.Rule{
	"user":         userwire.Spec().Auth,
	"billing":      billingwire.Spec().Auth,
	"order":        orderwire.Spec().Auth,
	"notification": notificationwire.Spec().Auth,
}

// identity is what the stack prepares for identity, in one process: the
// user service's signing key and its public key set (served as the admin
// listener serves it), the verifier every service and the gateway use, and
// the client secrets of the order and notification services with the
// hashes the user service knows.
type identity struct {
	issuerURL, jwksURL string
	issuer             *token.Issuer
	verifier           *auth.Verifier
	clients            userapp.Clients
	secrets            map[string]string // client → its secret
	subject            gateway.SubjectFunc
}

func newIdentity(t testing.TB, ctx context.Context) *identity {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signing-keys.json")
	if _, err := keys.Generate(path); err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(ks.Handler())
	t.Cleanup(jwks.Close)
	id := &identity{issuerURL: "http://kassa.test", jwksURL: jwks.URL + "/.well-known/jwks.json"}
	if id.issuer, err = token.New(token.Config{Keys: ks, Issuer: id.issuerURL, Audience: auth.DefaultAudience, TTL: 15 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if id.verifier, err = auth.NewVerifier(ctx, auth.VerifierOptions{Issuers: []auth.Issuer{
		{Issuer: id.issuerURL, Audience: auth.DefaultAudience, JWKSURL: id.jwksURL},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.verifier.Close)
	id.secrets = map[string]string{}
	var entries []string
	for _, client := range []string{"order", "notification"} {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		id.secrets[client] = hex.EncodeToString(secret)
		sum := sha256.Sum256([]byte(id.secrets[client]))
		entries = append(entries, client+"="+hex.EncodeToString(sum[:]))
	}
	if id.clients, err = userapp.ParseClients(strings.Join(entries, ",")); err != nil {
		t.Fatal(err)
	}
	// The gateway's per-user rate-limit key: the subject of a verified
	// token, as cmd/gateway builds it.
	id.subject = func(ctx context.Context, tok string) (string, bool) {
		p, err := id.verifier.Verify(ctx, tok)
		if err != nil {
			return "", false
		}
		if p.Service != "" {
			return "service:" + p.Service, true
		}
		return p.UserID, p.UserID != ""
	}
	return id
}

// clientCredentials is the token source of the order or notification
// service (see cmd/order, cmd/notification): AuthService.Token with its
// client secret, cached until shortly before expiry.
func clientCredentials(tokens userv1.AuthServiceClient, client, secret string) auth.TokenSource {
	return auth.ClientCredentials(func(ctx context.Context) (string, time.Duration, error) {
		resp, err := tokens.Token(ctx, &userv1.TokenRequest{GrantType: "client_credentials", ClientId: client, ClientSecret: secret})
		if err != nil {
			return "", 0, err
		}
		return resp.GetAccessToken(), time.Duration(resp.GetExpiresIn()) * time.Second, nil
	})
}
