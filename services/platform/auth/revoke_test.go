package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
)

// revokingVerifier trusts iss with the revocation list at listURL,
// refetched every 10 ms so a test sees a change at once.
func revokingVerifier(t *testing.T, iss *authtest.Issuer, listURL string) *auth.Verifier {
	t.Helper()
	cfg := iss.Config()
	cfg.RevocationURL = listURL
	v, err := auth.NewVerifier(context.Background(), auth.VerifierOptions{Issuers: []auth.Issuer{cfg},
		UnknownKeyRefresh: time.Millisecond, RevocationRefresh: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func revoked(err error) bool { return auth.ReasonOf(err) == auth.ReasonRevoked }

// waitRequests polls until the list has been fetched n times.
func waitRequests(t *testing.T, l *authtest.RevocationList, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Requests() < n {
		if time.Now().After(deadline) {
			t.Fatalf("revocation list fetched %d times, want %d", l.Requests(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestVerify_RevocationList_RefusesListedCustomersOnly(t *testing.T) {
	iss := authtest.NewIssuer(t)
	list := authtest.NewRevocationList(t)
	deleted, kept, admin := authtest.NewUserID(), authtest.NewUserID(), authtest.NewUserID()
	list.Revoke(deleted)
	list.Revoke(admin)
	list.Revoke("service:order") // never consulted for a service token
	v := revokingVerifier(t, iss, list.URL)
	if _, err := verifyUntil(t, v, iss.Customer(t, deleted), revoked); !revoked(err) {
		t.Fatalf("listed customer: %v, want %s", err, auth.ReasonRevoked)
	}
	tests := []struct {
		name    string
		token   string
		refused bool
	}{
		{"listed customer", iss.Customer(t, deleted), true},
		{"listed admin", iss.Admin(t, admin), true},
		{"unlisted customer", iss.Customer(t, kept), false},
		{"service whose sub is listed", iss.Service(t, "order"), false},
		{"another service", iss.Service(t, "billing"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tt.token)
			if !tt.refused {
				if err != nil {
					t.Fatalf("Verify: %v, want accepted", err)
				}
				return
			}
			var ite *auth.InvalidTokenError
			if !errors.As(err, &ite) || ite.Reason != auth.ReasonRevoked {
				t.Fatalf("Verify = %+v, %v; want an InvalidTokenError %s", p, err, auth.ReasonRevoked)
			}
			if p.UserID != "" || p.Roles != nil {
				t.Errorf("principal %+v returned with a refusal", p)
			}
		})
	}
}

func TestVerify_RevocationList_SubjectAddedLater_RefusedAfterRefresh(t *testing.T) {
	iss := authtest.NewIssuer(t)
	list := authtest.NewRevocationList(t)
	v := revokingVerifier(t, iss, list.URL)
	user := authtest.NewUserID()
	token := iss.Customer(t, user)
	waitRequests(t, list, 1)
	if _, err := verifyUntil(t, v, token, accepted); err != nil {
		t.Fatalf("before deletion: %v", err)
	}
	list.Revoke(user)
	if _, err := verifyUntil(t, v, token, revoked); !revoked(err) {
		t.Errorf("after deletion: %v, want %s", err, auth.ReasonRevoked)
	}
	if _, err := v.Verify(context.Background(), iss.Customer(t, authtest.NewUserID())); err != nil {
		t.Errorf("another customer after the deletion: %v", err)
	}
}

// An unreachable or broken list must not un-revoke anyone.
func TestVerify_RevocationList_FailingFetch_KeepsLastGoodList(t *testing.T) {
	for _, how := range []string{"status", "garbage"} {
		t.Run(how, func(t *testing.T) {
			iss := authtest.NewIssuer(t)
			list := authtest.NewRevocationList(t)
			user := authtest.NewUserID()
			list.Revoke(user)
			v := revokingVerifier(t, iss, list.URL)
			token := iss.Customer(t, user)
			if _, err := verifyUntil(t, v, token, revoked); !revoked(err) {
				t.Fatalf("with the list up: %v, want %s", err, auth.ReasonRevoked)
			}
			list.Break(how)
			// Two fetches after the break: at least one completed wholly
			// against the broken list.
			waitRequests(t, list, list.Requests()+2)
			if _, err := v.Verify(context.Background(), token); !revoked(err) {
				t.Errorf("with the list %s: %v, want still %s", how, err, auth.ReasonRevoked)
			}
			if _, err := v.Verify(context.Background(), iss.Customer(t, authtest.NewUserID())); err != nil {
				t.Errorf("unlisted customer with the list %s: %v", how, err)
			}
		})
	}
}

// Until the first list arrives the verifier accepts (fail open): the
// user service being down must not stop reads elsewhere.
func TestVerify_RevocationList_BeforeFirstFetch_Accepts(t *testing.T) {
	iss := authtest.NewIssuer(t)
	user := authtest.NewUserID()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"subjects":[{"sub":"` + user + `","revokedAt":"2025-01-01T00:00:00Z"}],"window":"16m0s"}`))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	v := revokingVerifier(t, iss, srv.URL)
	token := iss.Customer(t, user)
	if _, err := verifyUntil(t, v, token, accepted); err != nil {
		t.Fatalf("listed customer before the list arrived: %v, want accepted", err)
	}
	close(release)
	if _, err := verifyUntil(t, v, token, revoked); !revoked(err) {
		t.Errorf("listed customer once the list arrived: %v, want %s", err, auth.ReasonRevoked)
	}
}

// A list that never answers leaves the verifier working (fail open) and
// the error is not the token's.
func TestVerify_RevocationList_Unreachable_Accepts(t *testing.T) {
	iss := authtest.NewIssuer(t)
	v := revokingVerifier(t, iss, "http://127.0.0.1:1/.well-known/revoked-subjects.json")
	if _, err := verifyUntil(t, v, iss.Customer(t, authtest.NewUserID()), accepted); err != nil {
		t.Errorf("with the list unreachable: %v, want accepted", err)
	}
}
