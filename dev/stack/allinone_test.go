package stack

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The all-in-one process gets every component's settings under the
// component's name, the caller's Options.Env unprefixed (it applies to
// all five), and half the cores as GOMAXPROCS unless the caller sets it.
func TestAllInOneEnv(t *testing.T) {
	s := &Stack{components: Components(), opts: Options{LogFmt: "json", AllInOne: true, Env: []string{"REPAIR_INTERVAL=1s"}},
		dbURLs: map[string]string{"user": "postgres://u", "billing": "postgres://b", "order": "postgres://o", "notification": "postgres://n"},
		auth:   authFiles{signingKeys: "/k", secrets: map[string]string{"order": "/s", "notification": "/n"}, hashes: map[string]string{"order": "h", "notification": "i"}}}
	t.Setenv("GOMAXPROCS", "")
	procs := s.processes()
	if len(procs) != 1 || procs[0].Name != AllInOne {
		t.Fatalf("processes = %v, want %s alone", procs, AllInOne)
	}
	env := s.env(procs[0])
	for key, want := range map[string]string{
		"USER_DATABASE_URL":                    "postgres://u",
		"BILLING_LISTEN_ADDR":                  s.Addr("billing"),
		"GATEWAY_LISTEN_ADDR":                  s.Addr("gateway"),
		"ORDER_AUTH_CLIENT_ID":                 "order",
		"NOTIFICATION_AUTH_CLIENT_SECRET_FILE": "/n",
		"USER_AUTH_SIGNING_KEYS":               "/k",
		"GATEWAY_JWKS_SOURCE_URL":              s.JWKSURL(),
		"LOG_FORMAT":                           "json",
		"REPAIR_INTERVAL":                      "1s",
	} {
		if got, _ := envValue(env, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if got, want := envValueOf(env, "GOMAXPROCS"), strconv.Itoa(max(1, runtime.NumCPU()/2)); got != want {
		t.Errorf("GOMAXPROCS = %q, want %s (half the cores)", got, want)
	}
	s.opts.Env = append(s.opts.Env, "GOMAXPROCS=3")
	if got := envValueOf(s.env(procs[0]), "GOMAXPROCS"); got != "3" {
		t.Errorf("GOMAXPROCS = %q with the caller's 3, want 3", got)
	}
	if _, ok := envValue(env, "DATABASE_URL"); ok {
		t.Error("an unprefixed DATABASE_URL: it would be no service's")
	}
	if pkgs := strings.Join(s.packages(), " "); !strings.Contains(pkgs, allInOnePkg) || !strings.Contains(pkgs, userPkg) {
		t.Errorf("packages %q: want the all-in-one binary and the user binary (keygen, grant-admin)", pkgs)
	}
}

// A component of the all-in-one process has no process to kill alone:
// the controls say so, and name the one process.
func TestAllInOne_ControlsOfAComponentRefused(t *testing.T) {
	s := &Stack{components: Components(), opts: Options{AllInOne: true}, procs: map[string]*proc{}}
	for _, name := range []string{"order", "gateway"} {
		err := s.Kill(name)
		var one ErrOneProcess
		if !errors.As(err, &one) || one.Component != name || !strings.Contains(err.Error(), `"kassa"`) {
			t.Errorf("Kill(%s) = %v, want ErrOneProcess naming kassa", name, err)
		}
		if err := s.Start(t.Context(), name); !errors.As(err, &one) {
			t.Errorf("Start(%s) = %v, want ErrOneProcess", name, err)
		}
	}
	if err := s.Kill(AllInOne); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Kill(kassa) of a stack that runs nothing = %v, want not running", err)
	}
	if s.Running("order") || s.PID("order") != 0 {
		t.Error("order reported running with no process")
	}
}

// envValueOf is envValue without the found flag.
func envValueOf(env []string, key string) string { v, _ := envValue(env, key); return v }
