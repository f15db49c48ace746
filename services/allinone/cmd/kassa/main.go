// Command kassa runs the whole of kassa in one process: the gateway and the
// four services, calling each other in process. Run with -h for its
// settings; services/allinone/README.md says when to use it.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/kassa-dev/kassa/services/allinone"
)

// version is the release this binary was built from, set at link time as
// the gateway's is (go build -ldflags "-X main.version=...").
var version string

func main() {
	v := version
	if bi, ok := debug.ReadBuildInfo(); v == "" && ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if err := allinone.Run(context.Background(), os.Args, os.Getenv, os.Stdout, allinone.Options{Version: v}); err != nil {
		fmt.Fprintln(os.Stderr, "kassa:", err)
		os.Exit(1)
	}
}
