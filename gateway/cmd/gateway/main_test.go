package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/gateway"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
)

// TestRun_ServesUntilCancelled starts the real process function on free
// ports, finds its addresses in the "serving" log line, calls it and stops
// it the way a signal would.
func TestRun_ServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() { // keeps draining so run never blocks on logging
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "serving" {
				serving <- line
			}
		}
	}()
	errc := make(chan error, 1)
	go func() {
		// The upstreams need not exist: connections are lazy.
		errc <- run(ctx, []string{"gateway", "-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0",
			"-user-addr", "127.0.0.1:1"}, func(string) string { return "" }, pw)
		pw.Close()
	}()
	var line map[string]any
	select {
	case line = <-serving:
	case err := <-errc:
		t.Fatalf("run returned before serving: %v", err)
	}
	if line["service"] != "gateway" || line["user"] != "127.0.0.1:1" {
		t.Errorf("serving line = %v", line)
	}

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + line["http"].(string) + "/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("public /healthz = %d %s", code, body)
	}
	if code, body := get("http://" + line["admin"].(string) + "/metrics"); code != 200 ||
		!strings.Contains(body, `kassa_gateway_http_request_duration_seconds_count{code="200",method="GET",route="/healthz"} `) {
		t.Errorf("admin /metrics = %d, lacks the /healthz request:\n%s", code, body)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

func TestRun_BadSettingFails(t *testing.T) {
	err := run(context.Background(), []string{"gateway", "-max-body-bytes", "big"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "max-body-bytes (MAX_BODY_BYTES)") {
		t.Errorf("error = %v", err)
	}
}

func TestRun_HelpIsNotAnError(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"gateway", "-h"}, func(string) string { return "" }, &out); err != nil {
		t.Errorf("run -h: %v", err)
	}
	if !strings.Contains(out.String(), "-call-timeout") {
		t.Errorf("usage missing:\n%s", out.String())
	}
}

// TestVerifiedSubject_OnlyVerifiedTokensNameABucket: the per-user bucket
// is keyed by the subject of a token the platform verifier accepts; a
// forged or expired token naming the same user gets no bucket (its address
// limit alone holds it), so it cannot spend that user's budget.
func TestVerifiedSubject_OnlyVerifiedTokensNameABucket(t *testing.T) {
	iss := authtest.NewIssuer(t)
	other := authtest.NewIssuer(t)
	cfg, err := gateway.ParseConfig([]string{"-auth-issuer", iss.URL, "-auth-audience", iss.Audience, "-auth-jwks-url", iss.JWKSURL},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	subject, closeVerifier, err := gateway.VerifiedSubject(context.Background(), cfg.Auth)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeVerifier)
	user := authtest.NewUserID()
	for _, tc := range []struct {
		name, token, want string
		ok                bool
	}{
		{"customer", iss.Customer(t, user), user, true},
		{"service", iss.Service(t, "order"), "service:order", true},
		{"signed by another issuer's key", iss.Customer(t, user, authtest.SignedBy(other)), "", false},
		{"bad signature", iss.Customer(t, user, authtest.BadSignature()), "", false},
		{"expired", iss.Customer(t, user, authtest.Expired()), "", false},
		{"alg none", iss.Customer(t, user, authtest.AlgNone()), "", false},
		{"not a token", "garbage", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := subject(context.Background(), tc.token)
			if got != tc.want || ok != tc.ok {
				t.Errorf("subject = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestVerifiedSubject_NoIssuerTrustsNoToken(t *testing.T) {
	iss := authtest.NewIssuer(t)
	subject, closeVerifier, err := gateway.VerifiedSubject(context.Background(), auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeVerifier()
	if got, ok := subject(context.Background(), iss.Customer(t, authtest.NewUserID())); ok || got != "" {
		t.Errorf("subject = %q, %v; want none", got, ok)
	}
}
