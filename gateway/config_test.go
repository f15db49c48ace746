package gateway

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/process"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfig_Defaults(t *testing.T) {
	c, err := ParseConfig(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: ":8080", AdminListen: ":9100",
		UserAddr: "localhost:50051", BillingAddr: "localhost:50052", OrderAddr: "localhost:50053", NotificationAddr: "localhost:50054",
		CallTimeout: 10 * time.Second, MaxBodyBytes: 1 << 20, RetryAfter: time.Second,
		Process:     process.Config{ShutdownTimeout: 15 * time.Second, LogLevel: "info", LogFormat: "json"},
		RateAddress: RateLimit{500, 1000}, RateUser: RateLimit{200, 400}, RateAuthAddress: RateLimit{10, 20},
		RateIdle:      10 * time.Minute,
		Admission:     DefaultAdmission,
		UserAdmission: DefaultUserAdmission,
		JWKSSourceURL: "http://localhost:9101/.well-known/jwks.json", AuthIssuer: "http://localhost:8080",
		// The platform's verifying defaults; the issuer follows -auth-issuer.
		// The revocation list follows the default key set's origin.
		Auth: auth.Config{Issuer: "http://localhost:8080", Audience: "kassa", JWKSURL: "http://localhost:9101/.well-known/jwks.json",
			RevocationURL:     "http://localhost:9101/.well-known/revoked-subjects.json",
			ExternalUserClaim: "sub", ExternalRolesClaim: "roles", ClientID: "gateway"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config = %+v\nwant     %+v", c, want)
	}
}

func TestParseConfig_FlagBeatsEnvBeatsDefault(t *testing.T) {
	env := envOf(map[string]string{
		"LISTEN_ADDR": ":1", "BILLING_ADDR": "billing:1", "CALL_TIMEOUT": "3s", "MAX_BODY_BYTES": "100", "ADMIN_ADDR": ":2",
	})
	c, err := ParseConfig([]string{"-listen", ":9", "-call-timeout", "4s", "-log-format", "text"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9" || c.CallTimeout != 4*time.Second || c.Process.LogFormat != "text" {
		t.Errorf("flags lost: %+v", c)
	}
	if c.BillingAddr != "billing:1" || c.MaxBodyBytes != 100 || c.AdminListen != ":2" {
		t.Errorf("environment lost: %+v", c)
	}
	if c.UserAddr != "localhost:50051" {
		t.Errorf("default lost: %+v", c)
	}
}

func TestParseConfig_ErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-call-timeout", "soon"}, nil, "call-timeout (CALL_TIMEOUT)"},
		{[]string{"-call-timeout", "0s"}, nil, "call-timeout (CALL_TIMEOUT)"},
		{nil, map[string]string{"MAX_BODY_BYTES": "-1"}, "max-body-bytes (MAX_BODY_BYTES)"},
		{[]string{"-max-body-bytes", "1MB"}, nil, "max-body-bytes (MAX_BODY_BYTES)"},
		{[]string{"-shutdown-timeout", "-1s"}, nil, "shutdown-timeout (SHUTDOWN_TIMEOUT)"},
		{[]string{"-retry-after", "0s"}, nil, "retry-after (RETRY_AFTER)"},
		{nil, map[string]string{"RETRY_AFTER": "soon"}, "retry-after (RETRY_AFTER)"},
		{[]string{"-log-level", "loud"}, nil, "log-level (LOG_LEVEL)"},
		{[]string{"-log-format", "xml"}, nil, "log-format (LOG_FORMAT)"},
		{[]string{"-order-addr", ""}, nil, "order-addr (ORDER_ADDR)"},
		{[]string{"-listen", ""}, nil, "listen (LISTEN_ADDR)"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"-rate-per-address", "many"}, nil, "rate-per-address (RATE_PER_ADDRESS)"},
		{nil, map[string]string{"RATE_PER_USER": "-1"}, "rate-per-user (RATE_PER_USER)"},
		{[]string{"-rate-auth-per-address-burst", "0"}, nil, "rate-auth-per-address-burst (RATE_AUTH_PER_ADDRESS_BURST)"},
		{[]string{"-rate-per-user-burst", "1.5"}, nil, "rate-per-user-burst (RATE_PER_USER_BURST)"},
		{[]string{"-rate-idle", "0s"}, nil, "rate-idle (RATE_IDLE)"},
		{[]string{"-jwks-source-url", "localhost:9101"}, nil, "jwks-source-url (JWKS_SOURCE_URL)"},
		{nil, map[string]string{"AUTH_ISSUER": "ftp://kassa"}, "auth-issuer (AUTH_ISSUER)"},
		{nil, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, "trusted-proxies (TRUSTED_PROXIES)"},
		{[]string{"-max-in-flight", "lots"}, nil, "MAX_IN_FLIGHT"},
		{[]string{"-per-user-max-in-flight", "-1"}, nil, "PER_USER_MAX_IN_FLIGHT"},
		{nil, map[string]string{"PER_USER_MAX_WAIT": "soon"}, "PER_USER_MAX_WAIT"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := ParseConfig(tt.args, envOf(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to name %q", err, tt.want)
			}
		})
	}
}

func TestParseConfig_RateLimitsAndProxies(t *testing.T) {
	c, err := ParseConfig([]string{"-rate-per-address", "0", "-rate-per-user", "2.5", "-rate-per-user-burst", "3",
		"-trusted-proxies", "10.0.0.0/8, 192.168.1.7 ,fd00::/8"}, envOf(map[string]string{"RATE_AUTH_PER_ADDRESS": "1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RateAddress.PerSecond != 0 || c.RateUser != (RateLimit{2.5, 3}) || c.RateAuthAddress != (RateLimit{1, 20}) {
		t.Errorf("rates = %+v %+v %+v", c.RateAddress, c.RateUser, c.RateAuthAddress)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8")}
	if !slices.Equal(c.TrustedProxies, want) {
		t.Errorf("trusted proxies = %v, want %v", c.TrustedProxies, want)
	}
}

func TestParseConfig_Help(t *testing.T) {
	var out strings.Builder
	_, err := ParseConfig([]string{"-h"}, envOf(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error = %v, want flag.ErrHelp", err)
	}
	for _, s := range []string{"-max-body-bytes", "MAX_BODY_BYTES", "-notification-addr", "NOTIFICATION_ADDR"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("usage lacks %s:\n%s", s, out.String())
		}
	}
}
