package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/billing/wire"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"google.golang.org/grpc"
)

func TestRun_HelpListsBillingFlags(t *testing.T) {
	var out bytes.Buffer
	getenv := func(string) string { return "" }
	if err := run(context.Background(), []string{"billing", "-h"}, getenv, &out); err != nil {
		t.Fatalf("run -h: %v", err)
	}
	for _, want := range []string{"-default-currency", `(default "USD")`, "DEFAULT_CURRENCY", `":50052"`, `":9102"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %s:\n%s", want, out.String())
		}
	}
}

func TestRun_WithoutDatabase_Fails(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"billing"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("run = %v, want an error naming DATABASE_URL", err)
	}
}

// The binary enforces the rule table, and the table covers the contract, so
// billing cannot start serving a method without deciding who may call it.
func TestSpec_EnforcesAccessRules(t *testing.T) {
	rules := wire.Spec().Auth
	if rules == nil {
		t.Fatal("Spec.Auth is nil: billing would serve every caller")
	}
	if err := auth.CheckRules([]*grpc.ServiceDesc{&billingv1.BillingService_ServiceDesc}, rules); err != nil {
		t.Fatal(err)
	}
}
