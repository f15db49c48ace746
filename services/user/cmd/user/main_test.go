package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/user/keys"
)

// The repair loop's schedule has the names every service uses for its
// background retries (see service.RetryOptions), with retry.Default's
// values; the user service's own earlier names are gone.
func TestRun_HelpListsRetryFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"user", "-h"}, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("run -h: %v", err)
	}
	help := out.String()
	for _, want := range []string{
		"-retry-base string", "RETRY_BASE", `(default "1s")`,
		"-retry-max string", "RETRY_MAX)", `(default "5m0s")`,
		"-retry-max-attempts string", "RETRY_MAX_ATTEMPTS", `(default "20")`,
		"-repair-interval", "-default-currency",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not mention %s:\n%s", want, help)
		}
	}
	for _, gone := range []string{"-repair-backoff", "REPAIR_BACKOFF", "-repair-max-attempts"} {
		if strings.Contains(help, gone) {
			t.Errorf("help still mentions %s:\n%s", gone, help)
		}
	}
}

// A flag of the earlier names is refused rather than ignored.
func TestRun_EarlierRepairFlag_Refused(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"user", "-repair-backoff", "2s"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "repair-backoff") {
		t.Fatalf("run -repair-backoff 2s = %v, want an error naming the flag", err)
	}
}

// keygen creates a key file, then appends a key that becomes the signer.
func TestRun_Keygen_CreatesThenRotates(t *testing.T) {
	path := t.TempDir() + "/signing-keys.json"
	var kids []string
	for range 2 {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"user", "keygen", "-out", path}, func(string) string { return "" }, &out); err != nil {
			t.Fatalf("keygen: %v", err)
		}
		f := strings.Fields(out.String())
		if len(f) < 4 {
			t.Fatalf("keygen printed %q", out.String())
		}
		kids = append(kids, f[3])
	}
	s, err := keys.Load(path)
	if err != nil || s.SignerKID() != kids[1] || kids[0] == kids[1] {
		t.Fatalf("after two keygens: signer %q, %v; kids %v", s.SignerKID(), err, kids)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"user", "keygen"}, func(string) string { return "" }, &out); err == nil {
		t.Fatal("keygen without -out succeeded")
	}
}
