package process_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/process"
	"go.opentelemetry.io/otel"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// parse declares the process flags on a fresh set, parses args and loads.
func parse(t *testing.T, args []string, env map[string]string) (process.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c process.Config
	c.RegisterFlags(fs, envOf(env), "calls")
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return c, c.Load()
}

func TestEnvName(t *testing.T) {
	for flagName, want := range map[string]string{
		"pprof":                  "PPROF",
		"db-max-conns":           "DB_MAX_CONNS",
		"auth-client-secret":     "AUTH_CLIENT_SECRET",
		"rate-per-address-burst": "RATE_PER_ADDRESS_BURST",
	} {
		if got := process.EnvName(flagName); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestConfig_FlagBeatsEnvBeatsDefault(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want process.Config
	}{
		{"defaults", nil, nil,
			process.Config{LogLevel: "info", LogFormat: "json", ShutdownTimeout: 15 * time.Second}},
		{"environment", nil, map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "text", "PPROF": "true", "SHUTDOWN_TIMEOUT": "3s"},
			process.Config{LogLevel: "debug", LogFormat: "text", Pprof: true, ShutdownTimeout: 3 * time.Second}},
		{"flags over environment",
			[]string{"-log-level", "warn", "-log-format", "json", "-pprof=false", "-shutdown-timeout", "0s"},
			map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "text", "PPROF": "true", "SHUTDOWN_TIMEOUT": "3s"},
			process.Config{LogLevel: "warn", LogFormat: "json"}},
		{"empty variables are unset", nil, map[string]string{"LOG_LEVEL": "", "SHUTDOWN_TIMEOUT": ""},
			process.Config{LogLevel: "info", LogFormat: "json", ShutdownTimeout: 15 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Errorf("config = %+v, want %+v", c, tt.want)
			}
		})
	}
}

func TestLoad_ErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-log-level", "loud"}, nil, `log-level (LOG_LEVEL): want debug, info, warn or error, got "loud"`},
		{[]string{"-log-level="}, nil, `log-level (LOG_LEVEL): want debug, info, warn or error, got ""`},
		{nil, map[string]string{"LOG_FORMAT": "xml"}, `log-format (LOG_FORMAT): want json or text, got "xml"`},
		{[]string{"-log-format="}, nil, `log-format (LOG_FORMAT): want json or text, got ""`},
		{[]string{"-shutdown-timeout", "-1s"}, nil, `shutdown-timeout (SHUTDOWN_TIMEOUT): want a duration such as 15s, got "-1s"`},
		{nil, map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, `shutdown-timeout (SHUTDOWN_TIMEOUT): want a duration such as 15s, got "soon"`},
		// The flag does not excuse a broken variable.
		{[]string{"-pprof"}, map[string]string{"PPROF": "maybe"}, `pprof (PPROF): want true or false, got "maybe"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+" "+tt.want, func(t *testing.T) {
			_, err := parse(t, tt.args, tt.env)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load = %v, want %q", err, tt.want)
			}
		})
	}
}

// A Config built in code (the gateway's tests, the in-process system)
// leaves the settings it does not care about empty.
func TestValidate_ZeroConfigIsValidNegativeGraceIsNot(t *testing.T) {
	if err := (process.Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	err := process.Config{ShutdownTimeout: -time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "shutdown-timeout (SHUTDOWN_TIMEOUT)") {
		t.Errorf("negative grace: %v, want an error naming shutdown-timeout", err)
	}
}

// The help of the shared flags is part of every binary's -h; only the
// noun of -shutdown-timeout differs between the services and the gateway.
func TestRegisterFlags_Help(t *testing.T) {
	for _, inFlight := range []string{"calls", "requests"} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var out strings.Builder
		fs.SetOutput(&out)
		var c process.Config
		c.RegisterFlags(fs, envOf(nil), inFlight)
		fs.PrintDefaults()
		want := `  -log-format string
    	json or text (env LOG_FORMAT) (default "json")
  -log-level string
    	debug, info, warn or error (env LOG_LEVEL) (default "info")
  -pprof
    	serve /debug/pprof/ on the admin listener (env PPROF=true)
  -shutdown-timeout string
    	how long in-flight ` + inFlight + ` may finish after SIGTERM (env SHUTDOWN_TIMEOUT) (default "15s")
`
		if out.String() != want {
			t.Errorf("help (%s) =\n%s\nwant\n%s", inFlight, out.String(), want)
		}
	}
}

func TestStart_LogsAsConfiguredAndInstallsTelemetry(t *testing.T) {
	tests := []struct {
		name string
		c    process.Config
		// debug says whether a debug line must appear.
		debug bool
		text  bool
	}{
		{"zero config: json at info", process.Config{}, false, false},
		{"text at debug", process.Config{LogLevel: "debug", LogFormat: "text"}, true, true},
		{"json at warn", process.Config{LogLevel: "warn", LogFormat: "json"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			log, tel, stop, err := process.Start(context.Background(), "billing", tt.c, envOf(nil), &out)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if otel.GetTracerProvider() != tel.TracerProvider {
				t.Error("the process's tracer provider is not OpenTelemetry's global one")
			}
			log.Debug("quiet")
			log.Warn("loud")
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if got := strings.Contains(out.String(), "quiet"); got != tt.debug {
				t.Errorf("debug line written = %v, want %v:\n%s", got, tt.debug, out.String())
			}
			last := lines[len(lines)-1]
			if tt.text {
				if !strings.Contains(last, "level=WARN") || !strings.Contains(last, "service=billing") {
					t.Errorf("text line = %q, want level=WARN and service=billing", last)
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(last), &m); err != nil {
				t.Fatalf("line %q is not JSON: %v", last, err)
			}
			if m["msg"] != "loud" || m["level"] != "WARN" || m["service"] != "billing" {
				t.Errorf("json line = %v, want msg loud, level WARN, service billing", m)
			}
		})
	}
}

func TestStart_RefusesABadLevel(t *testing.T) {
	_, _, _, err := process.Start(context.Background(), "billing", process.Config{LogLevel: "loud"}, envOf(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "log-level (LOG_LEVEL)") {
		t.Errorf("Start = %v, want an error naming log-level", err)
	}
}
