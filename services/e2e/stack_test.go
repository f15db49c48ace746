package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The generated client library works on its own: the example program runs
// the scenario against the live services.
func TestGoClientExample_RunsScenario(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./examples/order-scenario",
		"-user", sys.stack.Addr("user"), "-billing", sys.stack.Addr("billing"),
		"-order", sys.stack.Addr("order"), "-notification", sys.stack.Addr("notification"))
	cmd.Dir = "../../gen"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	for _, want := range []string{"created user", "balance 5000", "STATUS_PAID", "STATUS_PAID, 500 refunded, balance 3501", "STATUS_CANCELLED, 1999 refunded, balance 5000", "letter to example-"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Ctrl-C on `make run` stops every process it started, PostgreSQL included.
func TestKassaStack_Interrupt_LeavesNoProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second stack")
	}
	tmp, err := os.MkdirTemp("", "kassa-sigint-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "kassa-stack")
	build := exec.Command("go", "build", "-o", bin, "../../dev/cmd/kassa-stack")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	args := []string{"-root", "../..", "-temp"}
	if sys.allInOne {
		args = append(args, "-all-in-one")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !sent && strings.HasSuffix(sc.Text(), "| ready") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("stack exited before ready")
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("stack not ready in 3 minutes")
	}
	if left := processesUnder(tmp); left == "" {
		t.Fatal("no processes found under the stack folder while running; the check below would prove nothing")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("kassa-stack exit after Ctrl-C: %v\n%s", err, log.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("kassa-stack did not stop within a minute of SIGINT")
	}
	if left := processesUnder(tmp); left != "" {
		t.Errorf("processes left after Ctrl-C:\n%s", left)
	}
}
