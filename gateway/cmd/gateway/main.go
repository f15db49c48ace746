// Command gateway serves kassa's public REST/JSON API in front of the four
// gRPC services. Run with -h for its settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/kassa-dev/kassa/gateway"
	"github.com/kassa-dev/kassa/services/platform/process"
)

// version is the release this binary was built from, set at link time
// (go build -ldflags "-X main.version=$(git describe --tags --always --dirty)";
// make run, make e2e and the container image do). It becomes info.version
// of the served OpenAPI document.
var version string

// buildVersion is version, else the module version go install records
// (gateway@v1.2.3), else empty: the document keeps "unreleased".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ""
}

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// run is the whole life of the process: it serves until ctx is cancelled
// or SIGINT/SIGTERM arrives, then lets in-flight requests finish.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := gateway.ParseConfig(args[1:], getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, tel, stopTelemetry, err := process.Start(ctx, "gateway", cfg.Process, getenv, stdout)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	cfg.Version = buildVersion()
	return gateway.Serve(ctx, cfg, log, tel)
}
