// Command kassa-stack runs the whole kassa system locally: `make run` uses
// it in the foreground, and `make test` uses -exec to run the Postman
// collection against a throwaway stack.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kassa-dev/kassa/dev/stack"
	"github.com/kassa-dev/kassa/services/platform/pgdb"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kassa-stack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("kassa-stack", flag.ContinueOnError)
	fs.SetOutput(stdout)
	root := fs.String("root", ".", "repository root")
	dir := fs.String("dir", ".data", "folder for the PostgreSQL cluster and binaries (kept between runs)")
	temp := fs.Bool("temp", false, "use a throwaway folder, fresh cluster and free ports; removed on exit")
	execCmd := fs.String("exec", "", "run this shell command against the started stack (KASSA_BASE_URL and KASSA_<SERVICE>_ADDR are set), then stop; exit with its status")
	logFmt := fs.String("log-format", "text", "service log format: text or json")
	logFile := fs.String("logs", "", "write the processes' logs to this file instead of stdout (the tail is printed if -exec fails)")
	allInOne := fs.Bool("all-in-one", false, "run the gateway and the four services in one process (services/allinone) instead of five")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: kassa-stack [flags]\n\nStarts PostgreSQL, the four kassa services and the gateway; Ctrl-C stops them.\nDATABASE_URL, when set, names an existing PostgreSQL server to use instead of a private cluster.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	rootAbs, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	logs := stdout
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logs = f
		defer func() {
			if err != nil {
				printTail(stdout, *logFile, 60)
			}
		}()
	}
	opts := stack.Options{Root: rootAbs, Dir: *dir, DatabaseURL: getenv("DATABASE_URL"), Durable: !*temp, Out: logs, LogFmt: *logFmt, AllInOne: *allInOne}
	if *temp {
		tmp, err := os.MkdirTemp("", "kassa-stack-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		// The cluster may run as the postgres user, who must reach its folder.
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		opts.Dir, opts.FreePorts = tmp, true
	}
	if !filepath.IsAbs(opts.Dir) {
		opts.Dir = filepath.Join(rootAbs, opts.Dir)
	}
	s, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, "kassa        | stopping")
		s.Stop()
		fmt.Fprintln(stdout, "kassa        | stopped")
	}()

	fmt.Fprintf(stdout, `kassa        | ready
kassa        |   REST API      %[1]s   (OpenAPI: %[1]s/openapi.json, readiness: %[1]s/readyz)
kassa        |   gRPC          user %[2]s  billing %[3]s  order %[4]s  notification %[5]s
kassa        |   metrics       %[6]s/metrics %[7]s/metrics %[8]s/metrics %[9]s/metrics %[10]s/metrics
kassa        |   signing keys  %[11]s   (public: %[1]s/.well-known/jwks.json; rotate: docs/deploy.md)
kassa        |   admin role    register the user, then: %[12]s
`, s.BaseURL(), s.Addr("user"), s.Addr("billing"), s.Addr("order"), s.Addr("notification"),
		s.AdminURL("gateway"), s.AdminURL("user"), s.AdminURL("billing"), s.AdminURL("order"), s.AdminURL("notification"),
		s.SigningKeys(), grantAdminText(s))
	if *allInOne {
		fmt.Fprintf(stdout, "kassa        |   one process   pid %d runs all five (admin ports as above, one per component)\n", s.PID(stack.AllInOne))
	}

	if *execCmd != "" {
		cmd := exec.CommandContext(ctx, "sh", "-c", *execCmd)
		cmd.Dir, cmd.Stdout, cmd.Stderr = rootAbs, stdout, os.Stderr
		cmd.Env = append(os.Environ(), "KASSA_BASE_URL="+s.BaseURL())
		for _, name := range []string{"user", "billing", "order", "notification"} {
			cmd.Env = append(cmd.Env, fmt.Sprintf("KASSA_%s_ADDR=%s", upper(name), s.Addr(name)))
		}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", *execCmd, err)
		}
		return nil
	}
	fmt.Fprintln(stdout, "kassa        | try: make newman (the Postman scenario) — press Ctrl-C to stop (data is kept in "+opts.Dir+")")
	select {
	case <-ctx.Done():
		return nil
	case name := <-s.Exited():
		return fmt.Errorf("%s exited; stopping the rest", name)
	}
}

// grantAdminText is the command that gives a registered user the admin
// role (from its next login); registration never does. The URL's password,
// if DATABASE_URL has one, is hidden: put it back to run the command.
func grantAdminText(s *stack.Stack) string {
	bin := s.UserBinary()
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, bin); err == nil && !strings.HasPrefix(rel, "..") {
			bin = rel
		}
	}
	return fmt.Sprintf("%s grant-admin -database-url '%s' -username alice", bin, pgdb.Redact(s.DatabaseURL("user")))
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// printTail shows the end of the process logs after a failure, so CI output
// explains it without the file.
func printTail(w io.Writer, path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Fprintf(w, "---- last %d lines of %s ----\n%s\n", len(lines), path, strings.Join(lines, "\n"))
}
