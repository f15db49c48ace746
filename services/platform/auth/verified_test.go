package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
)

// warmVerifier returns an issuer, a verifier of its tokens that has
// fetched its key set (it accepted a token of user), and user.
func warmVerifier(t *testing.T) (*authtest.Issuer, *auth.Verifier, string) {
	t.Helper()
	iss := authtest.NewIssuer(t)
	v := iss.Verifier(t)
	user := authtest.NewUserID()
	if _, err := verifyUntil(t, v, iss.Customer(t, user), accepted); err != nil {
		t.Fatal(err)
	}
	return iss, v, user
}

// A token seen again is served from memory: a fraction of the full
// check's allocations, with the same principal.
func TestVerify_TokenSeenAgain_SkipsTheFullCheck(t *testing.T) {
	iss, v, user := warmVerifier(t)
	first, err := v.Verify(context.Background(), iss.Customer(t, user))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	full := testing.AllocsPerRun(20, func() {
		if _, err := v.Verify(ctx, iss.Customer(t, user)); err != nil { // a new token each time
			t.Fatal(err)
		}
	})
	token := iss.Customer(t, user)
	signing := testing.AllocsPerRun(20, func() { _ = iss.Customer(t, user) })
	full -= signing
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	var again auth.Principal
	seen := testing.AllocsPerRun(20, func() {
		if again, err = v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
	})
	if seen*5 > full {
		t.Errorf("a token seen again costs %.0f allocations, the full check %.0f; want at most a fifth", seen, full)
	}
	if again.UserID != first.UserID || !again.IsCustomer() || again.IsAdmin() {
		t.Errorf("remembered principal %+v, first %+v", again, first)
	}
}

// The caller may change the principal it got; the next call of the same
// token is not affected.
func TestVerify_TokenSeenAgain_RolesAreTheCallers(t *testing.T) {
	iss := authtest.NewIssuer(t)
	v := iss.Verifier(t)
	token := iss.Customer(t, authtest.NewUserID())
	p, err := verifyUntil(t, v, token, accepted)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		p.Roles[0] = auth.RoleAdmin
		if p, err = v.Verify(context.Background(), token); err != nil {
			t.Fatal(err)
		}
		if p.IsAdmin() || !p.IsCustomer() {
			t.Fatalf("after the caller changed its copy, the token verifies as %v", p.Roles)
		}
	}
}

// Refused tokens take no room, and a refused token stays refused.
func TestVerify_Refusals_NotRemembered(t *testing.T) {
	iss, v, user := warmVerifier(t)
	before := auth.Remembered(v)
	good := iss.Customer(t, user)
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	tampered := good[:len(good)-2] + flip(good[len(good)-2]) + good[len(good)-1:]
	for _, token := range []string{tampered, iss.Customer(t, user, authtest.Expired()), iss.Customer(t, user, authtest.UnknownKey())} {
		for range 2 {
			if _, err := v.Verify(context.Background(), token); err == nil {
				t.Fatalf("refused token accepted: %s", token)
			}
		}
	}
	if n := auth.Remembered(v); n != before+1 {
		t.Errorf("%d tokens remembered; want %d (the good ones)", n, before+1)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// A remembered token is not served past its exp.
func TestVerify_TokenSeenAgain_ForgottenAtExpiry(t *testing.T) {
	iss, v, _ := warmVerifier(t)
	before := auth.Remembered(v)
	token := iss.Customer(t, authtest.NewUserID(), authtest.ExpiresIn(1500*time.Millisecond))
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	if n := auth.Remembered(v); n != before+1 {
		t.Fatalf("%d remembered after the check; want %d", n, before+1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for auth.Remembered(v) != before {
		if time.Now().After(deadline) {
			t.Fatal("an expired token is still remembered 10 s after its exp")
		}
		// Inside the leeway the full check still accepts it; it is not
		// remembered again.
		_, _ = v.Verify(context.Background(), token)
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// Many distinct tokens: the memory stays bounded.
func TestVerify_ManyTokens_Bounded(t *testing.T) {
	iss, v, _ := warmVerifier(t)
	for range auth.MaxRemembered + 200 {
		if _, err := v.Verify(context.Background(), iss.Customer(t, authtest.NewUserID())); err != nil {
			t.Fatal(err)
		}
	}
	if n := auth.Remembered(v); n > auth.MaxRemembered || n == 0 {
		t.Errorf("%d tokens remembered; want 1..%d", n, auth.MaxRemembered)
	}
}

// BenchmarkVerify: the full check of a token against one seen before.
func BenchmarkVerify(b *testing.B) {
	iss := authtest.NewIssuer(b)
	v := iss.Verifier(b)
	user := authtest.NewUserID()
	deadline := time.Now().Add(10 * time.Second)
	for _, err := v.Verify(context.Background(), iss.Customer(b, user)); err != nil; _, err = v.Verify(context.Background(), iss.Customer(b, user)) {
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // the key set is fetched in the background
	}
	b.Run("new-token", func(b *testing.B) {
		tokens := make([]string, b.N)
		for i := range tokens {
			tokens[i] = iss.Customer(b, user)
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := v.Verify(context.Background(), tokens[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seen-again", func(b *testing.B) {
		token := iss.Customer(b, user)
		if _, err := v.Verify(context.Background(), token); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := v.Verify(context.Background(), token); err != nil {
				b.Fatal(err)
			}
		}
	})
}
