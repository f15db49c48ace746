package e2e

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The e2e stack locks an account after loginEnv's 3 failed logins in a
// row, for 2 s, doubling with every further failure.

func retryAfter(t *testing.T, a answer) int {
	t.Helper()
	n, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("429 without a Retry-After of whole seconds: %q (%s)", a.header.Get("Retry-After"), a)
	}
	return n
}

func TestLogin_BruteForce_LockedThenGrowingDelay(t *testing.T) {
	c := restCustomer(t, "brute-")
	login := func(pw string) answer {
		return call(t, "POST", "/v1/auth/login", map[string]any{"username": c.username, "password": pw}, nil)
	}
	for i := range 3 {
		expect(t, "wrong password "+strconv.Itoa(i+1), login("wrong password"), http.StatusUnauthorized, "")
	}
	locked := login("wrong password")
	expect(t, "a guess after 3 failures", locked, http.StatusTooManyRequests, "LOGIN_LOCKED")
	first := retryAfter(t, locked)
	if first > 2 {
		t.Errorf("Retry-After %d s, want at most the 2 s lock", first)
	}
	lockedAt := time.Now()
	right := login(c.password)
	expect(t, "the right password during the lock", right, http.StatusTooManyRequests, "LOGIN_LOCKED")
	if _, hasToken := right.json["accessToken"]; hasToken {
		t.Fatalf("the locked login answered a token: %s", right)
	}

	// Once the delay has passed the right password logs in; polled, and
	// no attempt during the lock extends it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := login(c.password)
		if a.status == http.StatusOK {
			if waited := time.Since(lockedAt); waited < time.Second {
				t.Errorf("logged in %v after the lock began, before the 2 s delay", waited)
			}
			if str(a.json, "accessToken") == "" {
				t.Fatalf("login after the lock: %s", a)
			}
			break
		}
		expect(t, "login during the lock", a, http.StatusTooManyRequests, "LOGIN_LOCKED")
		if time.Now().After(deadline) {
			t.Fatalf("still locked 10 s after a 2 s lock: %s", a)
		}
		time.Sleep(time.Duration(retryAfter(t, a)) * time.Second / 4)
	}

	// A success clears the count: three more failures are needed for the
	// next lock, whose delay starts again at 2 s; one failure beyond them
	// doubles it.
	for i := range 3 {
		expect(t, "wrong password after a success "+strconv.Itoa(i+1), login("wrong password"), http.StatusUnauthorized, "")
	}
	again := login("wrong password")
	expect(t, "the next lock", again, http.StatusTooManyRequests, "LOGIN_LOCKED")
	deadline = time.Now().Add(10 * time.Second)
	var a answer
	for a = login("wrong password"); a.status == http.StatusTooManyRequests; a = login("wrong password") {
		if time.Now().After(deadline) {
			t.Fatalf("still locked 10 s after a 2 s lock: %s", a)
		}
		time.Sleep(200 * time.Millisecond)
	}
	expect(t, "a wrong password once the lock passed", a, http.StatusUnauthorized, "")
	longer := login(c.password)
	expect(t, "the right password after a fourth failure", longer, http.StatusTooManyRequests, "LOGIN_LOCKED")
	if got := retryAfter(t, longer); got <= first || got > 4 {
		t.Errorf("Retry-After after one more failure = %d s, want the doubled delay (more than %d, at most 4)", got, first)
	}
}

// An unknown username and a wrong password get the same answer, so the
// login route does not tell which accounts exist.
func TestLogin_UnknownUserAndWrongPassword_AnswerAlike(t *testing.T) {
	c := restCustomer(t, "alike-")
	wrong := call(t, "POST", "/v1/auth/login", map[string]any{"username": c.username, "password": "wrong password"}, nil)
	unknown := call(t, "POST", "/v1/auth/login", map[string]any{"username": "nobody-" + randomID(), "password": "wrong password"}, nil)
	expect(t, "wrong password", wrong, http.StatusUnauthorized, "")
	expect(t, "unknown user", unknown, http.StatusUnauthorized, "")
	if wrong.message() != unknown.message() || wrong.reason() != unknown.reason() {
		t.Errorf("answers differ: %s vs %s", wrong, unknown)
	}
}
