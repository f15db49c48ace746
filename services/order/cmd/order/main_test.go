package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The background loops' schedule has the names every service uses for its
// background retries (see service.RetryOptions), with retry.Default's
// values.
func TestRun_HelpListsRetryFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"order", "-h"}, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("run -h: %v", err)
	}
	help := out.String()
	for _, want := range []string{
		"-retry-base string", "RETRY_BASE", `(default "1s")`,
		"-retry-max string", "RETRY_MAX)", `(default "5m0s")`,
		"-retry-max-attempts string", "RETRY_MAX_ATTEMPTS", `(default "20")`,
		"-repair-interval", "-default-currency", `":50053"`,
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not mention %s:\n%s", want, help)
		}
	}
}
