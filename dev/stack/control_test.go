package stack

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeStack is a stack whose one component, "worker", is the shell script
// body: process control without building or starting kassa.
func fakeStack(t *testing.T, body string) *Stack {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "worker"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Stack{
		opts:       Options{Out: io.Discard},
		components: []Component{{Name: "worker", Pkg: "./cmd/worker"}},
		bin:        bin,
		dbURLs:     map[string]string{},
		procs:      map[string]*proc{},
		exited:     make(chan string, 8),
	}
	if _, err := s.spawn(s.components[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	// A script that traps SIGTERM says when the trap is set: a signal
	// before that would end it the default way.
	if strings.Contains(body, ".ready") {
		deadline := time.Now().Add(reportWithin)
		for {
			if _, err := os.Stat(filepath.Join(bin, "worker.ready")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("worker did not set its trap")
			}
			time.Sleep(10 * time.Millisecond) // polling a file, with a deadline
		}
	}
	return s
}

const (
	runForever   = "exec sleep 600"
	drainOnTerm  = "trap 'exit 0' TERM; touch \"$0.ready\"; while :; do sleep 0.05; done"
	failOnTerm   = "trap 'exit 2' TERM; touch \"$0.ready\"; while :; do sleep 0.05; done"
	ignoreTerm   = "trap '' TERM; touch \"$0.ready\"; while :; do sleep 0.05; done"
	exitAtOnce   = "exit 3"
	reportWithin = 5 * time.Second
)

func assertNotReported(t *testing.T, s *Stack) {
	t.Helper()
	select {
	case name := <-s.Exited():
		t.Errorf("Exited reported %q, a deliberate exit", name)
	default:
	}
}

func TestKill_EndsTheProcess_NotReportedAsExited(t *testing.T) {
	s := fakeStack(t, runForever)
	if !s.Running("worker") {
		t.Fatal("worker not running after spawn")
	}
	if err := s.Kill("worker"); err != nil {
		t.Fatal(err)
	}
	if s.Running("worker") {
		t.Error("worker still running after Kill")
	}
	assertNotReported(t, s)
	if err := s.Kill("worker"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("second Kill = %v, want a not-running error", err)
	}
}

func TestExitOnItsOwn_ReportedOnExited(t *testing.T) {
	s := fakeStack(t, exitAtOnce)
	select {
	case name := <-s.Exited():
		if name != "worker" {
			t.Errorf("Exited reported %q, want worker", name)
		}
	case <-time.After(reportWithin):
		t.Fatal("an exit on its own was not reported")
	}
	if s.Running("worker") {
		t.Error("Running after the process exited")
	}
}

func TestTerminate(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		grace   time.Duration
		wantErr string // "" = clean exit
	}{
		{"drains and exits 0", drainOnTerm, reportWithin, ""},
		{"non-zero exit is an error", failOnTerm, reportWithin, "exit status 2"},
		{"ignored SIGTERM is killed after grace", ignoreTerm, 300 * time.Millisecond, "did not exit within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeStack(t, tt.body)
			err := s.Terminate("worker", tt.grace)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Terminate = %v, want a clean exit", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Terminate = %v, want an error with %q", err, tt.wantErr)
			}
			if s.Running("worker") {
				t.Error("worker running after Terminate")
			}
			assertNotReported(t, s)
		})
	}
}

func TestControls_RefuseWhatTheyCannotDo(t *testing.T) {
	s := fakeStack(t, runForever)
	if err := s.Kill("nosuch"); err == nil || !strings.Contains(err.Error(), `no component "nosuch"`) {
		t.Errorf("Kill(nosuch) = %v", err)
	}
	if err := s.Start(t.Context(), "worker"); err == nil || !strings.Contains(err.Error(), "it is running") {
		t.Errorf("Start of a running component = %v", err)
	}
	if err := s.StopPostgres(); err != ErrNoCluster {
		t.Errorf("StopPostgres without a cluster = %v, want ErrNoCluster", err)
	}
	if !s.Running("worker") {
		t.Error("a refused control changed the running process")
	}
}

func TestExitKind(t *testing.T) {
	tests := []struct {
		stopping, deliberate bool
		want                 exit
	}{
		{false, false, exitUnexpected},
		{false, true, exitDeliberate},
		{true, false, exitStopping},
		{true, true, exitStopping},
	}
	for _, tt := range tests {
		if got := exitKind(tt.stopping, tt.deliberate); got != tt.want {
			t.Errorf("exitKind(stopping=%v, deliberate=%v) = %v, want %v", tt.stopping, tt.deliberate, got, tt.want)
		}
	}
}
