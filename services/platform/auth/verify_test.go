package auth_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
)

// verifyUntil polls Verify until ok(err) holds or the deadline passes: the
// key cache fills in the background after a fetch.
func verifyUntil(t *testing.T, v *auth.Verifier, token string, ok func(error) bool) (auth.Principal, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := v.Verify(context.Background(), token)
		if ok(err) || time.Now().After(deadline) {
			return p, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func accepted(err error) bool { return err == nil }

func TestVerify_RefusesBadTokens(t *testing.T) {
	kassa := authtest.NewIssuer(t)
	ext := authtest.NewIssuer(t, authtest.External("sub", "roles"), authtest.WithAudience("shop"))
	v := authtest.Verifier(t, kassa, ext)
	// Both key sets are in the cache before the refusals are checked, so
	// "unknown kid" and "kid of another issuer" are told apart.
	if _, err := verifyUntil(t, v, kassa.Customer(t, authtest.NewUserID()), accepted); err != nil {
		t.Fatalf("warm-up kassa token: %v", err)
	}
	if _, err := verifyUntil(t, v, ext.Customer(t, authtest.NewUserID()), accepted); err != nil {
		t.Fatalf("warm-up external token: %v", err)
	}
	seen := map[auth.Reason]string{}
	for _, bt := range kassa.BadTokens(t, ext) {
		t.Run(bt.Name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), bt.Token)
			if err == nil {
				t.Fatalf("accepted as %v", p)
			}
			var ite *auth.InvalidTokenError
			if !errors.As(err, &ite) {
				t.Fatalf("error %v is not an InvalidTokenError", err)
			}
			if got := auth.ReasonOf(err); got != bt.Reason {
				t.Errorf("reason = %q, want %q (%v)", got, bt.Reason, err)
			}
			if p.UserID != "" || p.Service != "" || p.Roles != nil {
				t.Errorf("principal %v returned with a refusal", p)
			}
		})
		if prev, dup := seen[bt.Reason]; dup && bt.Reason != auth.ReasonMalformed && bt.Reason != auth.ReasonBadClaims {
			t.Errorf("cases %q and %q share reason %q", prev, bt.Name, bt.Reason)
		}
		seen[bt.Reason] = bt.Name
	}
}

func TestVerify_AcceptsValidTokens(t *testing.T) {
	kassa := authtest.NewIssuer(t)
	// The external issuer names the kassa user in its own claim and keeps
	// roles where Keycloak does.
	ext := authtest.NewIssuer(t, authtest.External("kassa_user_id", "realm_access.roles"), authtest.WithAudience("shop"))
	v := authtest.Verifier(t, kassa, ext)
	user := authtest.NewUserID()
	tests := []struct {
		name        string
		token       string
		want        auth.Principal
		admin       bool
		serviceName string
	}{
		{"customer", kassa.Customer(t, user), auth.Principal{UserID: user, Roles: []string{"customer"}}, false, ""},
		{"admin", kassa.Admin(t, user), auth.Principal{UserID: user, Roles: []string{"customer", "admin"}}, true, ""},
		{"service", kassa.Service(t, "order"), auth.Principal{Service: "order", Roles: []string{"service"}}, false, "order"},
		{"within leeway", kassa.Customer(t, user, authtest.ExpiresIn(-10*time.Second)), auth.Principal{UserID: user, Roles: []string{"customer"}}, false, ""},
		{"external customer", ext.Customer(t, user), auth.Principal{UserID: user, Roles: []string{"customer"}}, false, ""},
		{"external admin", ext.Admin(t, user), auth.Principal{UserID: user, Roles: []string{"customer", "admin"}}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := verifyUntil(t, v, tt.token, accepted)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.UserID != tt.want.UserID || p.Service != tt.want.Service || !slices.Equal(p.Roles, tt.want.Roles) {
				t.Errorf("principal = %+v, want %+v", p, tt.want)
			}
			if p.IsAdmin() != tt.admin {
				t.Errorf("IsAdmin = %v, want %v", p.IsAdmin(), tt.admin)
			}
			if got := tt.serviceName != "" && p.IsService(tt.serviceName) && !p.IsService("billing"); got != (tt.serviceName != "") {
				t.Errorf("IsService(%q) wrong for %+v", tt.serviceName, p)
			}
		})
	}
}

// An external issuer speaks for customers only: a token of its claiming
// the service role, or naming no UUID user, is not a service.
func TestVerify_ExternalIssuer_NeverAService(t *testing.T) {
	kassa := authtest.NewIssuer(t)
	ext := authtest.NewIssuer(t, authtest.External("sub", "roles"))
	v := authtest.Verifier(t, kassa, ext)
	user := authtest.NewUserID()
	p, err := verifyUntil(t, v, ext.Token(t, map[string]any{"sub": user, "roles": []string{"service"}, "client_id": "order"}), accepted)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.IsService() || !p.IsCustomer() || p.UserID != user {
		t.Errorf("external token with the service role = %+v, want a plain customer", p)
	}
	if _, err := v.Verify(context.Background(), ext.Service(t, "order")); auth.ReasonOf(err) != auth.ReasonBadClaims {
		t.Errorf("external service-shaped token: %v, want %s", err, auth.ReasonBadClaims)
	}
}

// Discovery: an issuer given without a JWKS URL is found through its
// openid-configuration.
func TestVerify_ExternalIssuer_DiscoversKeys(t *testing.T) {
	kassa := authtest.NewIssuer(t)
	ext := authtest.NewIssuer(t, authtest.External("sub", "roles"))
	cfg := ext.Config()
	cfg.JWKSURL = ""
	v, err := auth.NewVerifier(context.Background(), auth.VerifierOptions{
		Issuers: []auth.Issuer{kassa.Config(), cfg}, UnknownKeyRefresh: time.Millisecond})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	defer v.Close()
	if _, err := verifyUntil(t, v, ext.Customer(t, authtest.NewUserID()), accepted); err != nil {
		t.Errorf("token of the discovered issuer: %v", err)
	}
	cfg.Issuer = kassa.URL + "/not-an-issuer"
	if _, err := auth.NewVerifier(context.Background(), auth.VerifierOptions{Issuers: []auth.Issuer{cfg}}); err == nil {
		t.Error("discovery of a missing document succeeded")
	}
}

// Rotation: a new kid verifies as soon as it is published, without a
// restart; the old one verifies until it is removed from the set.
func TestVerify_KeyRotation_NewKidThenOldRemoved(t *testing.T) {
	iss := authtest.NewIssuer(t)
	v := iss.Verifier(t)
	user := authtest.NewUserID()
	oldKid := iss.KeyID()
	oldToken := iss.Customer(t, user)
	if _, err := verifyUntil(t, v, oldToken, accepted); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	newKid := iss.AddKey(t)
	newToken := iss.Customer(t, user)
	if _, err := verifyUntil(t, v, newToken, accepted); err != nil {
		t.Fatalf("token with the new kid %s: %v", newKid, err)
	}
	if _, err := v.Verify(context.Background(), oldToken); err != nil {
		t.Fatalf("token with the old kid after rotation: %v", err)
	}
	iss.RemoveKey(oldKid)
	// Removal shows at the next fetch: an unknown kid triggers one.
	stranger := iss.Customer(t, user, authtest.UnknownKey())
	_, err := verifyUntil(t, v, oldToken, func(err error) bool {
		_, _ = v.Verify(context.Background(), stranger)
		return err != nil
	})
	if auth.ReasonOf(err) != auth.ReasonUnknownKeyID {
		t.Errorf("old kid after removal: %v, want %s", err, auth.ReasonUnknownKeyID)
	}
	if _, err := v.Verify(context.Background(), newToken); err != nil {
		t.Errorf("new kid after removal of the old: %v", err)
	}
}

func TestVerify_IssuerDown_KeysUnavailable(t *testing.T) {
	iss := authtest.NewIssuer(t)
	cfg := iss.Config()
	cfg.JWKSURL = "http://127.0.0.1:1/.well-known/jwks.json"
	v, err := auth.NewVerifier(context.Background(), auth.VerifierOptions{Issuers: []auth.Issuer{cfg}, UnknownKeyRefresh: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), iss.Customer(t, authtest.NewUserID())); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Errorf("Verify with the issuer down = %v, want ErrKeysUnavailable", err)
	}
}
