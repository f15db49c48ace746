package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// grant-admin sets is_admin on the named live user only and prints its id;
// -revoke clears it; an unknown or malformed name fails and changes nothing.
func TestRun_GrantAdmin_SetsFlagByName_RevokeClears(t *testing.T) {
	db := pgtest.NewDB(t, postgres.Migrations)
	url := pgtest.URL(t, db)
	ctx := context.Background()
	store := postgres.New(db)
	ids := map[string]string{}
	for _, name := range []string{"ops", "ada"} {
		u, _, err := store.CreatePending(ctx, user.User{Username: name, Email: name + "@example.com"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = u.ID
	}
	admins := func() string {
		t.Helper()
		var names []string
		if err := db.Select(&names, `SELECT username FROM users WHERE is_admin ORDER BY username`); err != nil {
			t.Fatal(err)
		}
		return strings.Join(names, ",")
	}
	none := func(string) string { return "" }
	steps := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
		admins  string
	}{
		{"grant", []string{"-database-url", url, "-username", "ops"}, "", ids["ops"], "ops"},
		{"grant again", []string{"-database-url", url, "-username", "ops"}, "", ids["ops"], "ops"},
		{"unknown user", []string{"-database-url", url, "-username", "nobody"}, `no live user has username "nobody"`, "", "ops"},
		{"malformed name", []string{"-database-url", url, "-username", "Ops"}, "must be lower case", "", "ops"},
		{"no name", []string{"-database-url", url}, "username: is required", "", "ops"},
		{"no database", []string{"-username", "ops"}, "database URL is empty", "", "ops"},
		{"revoke", []string{"-database-url", url, "-username", "ops", "-revoke"}, "", ids["ops"], ""},
	}
	for _, s := range steps {
		var out bytes.Buffer
		err := run(ctx, append([]string{"user", "grant-admin"}, s.args...), none, &out)
		switch {
		case s.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Fatalf("%s: err = %v, want %q", s.name, err, s.wantErr)
		case s.wantErr == "" && strings.TrimSpace(out.String()) != s.wantOut:
			t.Fatalf("%s: printed %q, want the user id %s", s.name, out.String(), s.wantOut)
		}
		if got := admins(); got != s.admins {
			t.Fatalf("%s: admins = %q, want %q", s.name, got, s.admins)
		}
	}
}

// The option that granted the role by username is gone: a deployment
// still setting it fails to start instead of silently losing its admins.
func TestRun_AuthAdminsFlag_Refused(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"user", "-auth-admins", "root"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "auth-admins") {
		t.Fatalf("run -auth-admins root = %v, want an error naming the flag", err)
	}
}
