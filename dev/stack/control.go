package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/kassa-dev/kassa/services/platform/pgcluster"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Per-component control of a running stack, for fault tests: take one
// process or the database away while the rest keeps running, then bring it
// back. What the stack does on purpose is never reported on Exited, so a
// runner that stops on an unexpected exit (make run, the bench) and a test
// that kills things can share one stack type.

// ErrNoCluster is returned by the PostgreSQL controls of a stack that uses
// an external server (Options.DatabaseURL): that server is not the stack's
// to stop.
var ErrNoCluster = errors.New("the stack uses an external PostgreSQL server (DATABASE_URL); it cannot stop or start it")

// Kill sends SIGKILL to component name and waits until it is gone: a crash,
// with no chance to drain.
func (s *Stack) Kill(name string) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	p, err := s.running(name)
	if err != nil {
		return err
	}
	p.deliberate.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", name, err)
	}
	<-p.done
	return nil
}

// Terminate sends SIGTERM to component name and waits up to grace for it to
// drain and exit. It returns an error when the process needed SIGKILL after
// grace, or exited with anything but status 0: a service is expected to
// handle SIGTERM.
func (s *Stack) Terminate(name string, grace time.Duration) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	p, err := s.running(name)
	if err != nil {
		return err
	}
	p.deliberate.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("terminate %s: %w", name, err)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", name, grace)
	}
	if p.err != nil {
		return fmt.Errorf("%s after SIGTERM: %s", name, exitText(p.err))
	}
	return nil
}

// Start starts component name again after Kill or Terminate: the same
// binary, ports and environment. It waits until the component is ready: a
// service's gRPC health check says SERVING, the gateway's /readyz answers
// 200.
func (s *Stack) Start(ctx context.Context, name string) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	c, ok := s.process(name)
	if !ok {
		return s.noProcess(name)
	}
	if s.stopping.Load() {
		return fmt.Errorf("start %s: the stack is stopping", name)
	}
	if s.Running(name) {
		return fmt.Errorf("start %s: it is running", name)
	}
	p, err := s.spawn(c)
	if err != nil {
		return err
	}
	return s.waitComponent(ctx, c, p, 60*time.Second)
}

// Running reports whether component name has a live process (in the
// all-in-one mode: whether the one process lives).
func (s *Stack) Running(name string) bool {
	_, err := s.running(s.owner(name))
	return err == nil
}

// StopPostgres shuts the stack's cluster down (fast mode: every session is
// cut) and waits until it has exited.
func (s *Stack) StopPostgres() error { return s.stopPostgres((*pgcluster.Cluster).Stop) }

// CrashPostgres stops the stack's cluster as a crash would (immediate
// mode: WAL not yet written out is lost; StartPostgres recovers from what
// is on disk) and waits until it has exited.
func (s *Stack) CrashPostgres() error { return s.stopPostgres((*pgcluster.Cluster).Crash) }

func (s *Stack) stopPostgres(stop func(*pgcluster.Cluster) error) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.cluster == nil {
		return ErrNoCluster
	}
	if err := stop(s.cluster); err != nil {
		return err
	}
	s.mu.Lock()
	s.pgStopped = true
	s.mu.Unlock()
	return nil
}

// StartPostgres starts the cluster StopPostgres stopped, with the same
// settings, and waits until it accepts connections.
func (s *Stack) StartPostgres(ctx context.Context) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.cluster == nil {
		return ErrNoCluster
	}
	if err := s.cluster.Start(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.pgStopped = false
	s.mu.Unlock()
	return nil
}

// RestartPostgres stops the cluster (fast mode) and starts it again.
func (s *Stack) RestartPostgres(ctx context.Context) error {
	if err := s.StopPostgres(); err != nil {
		return err
	}
	return s.StartPostgres(ctx)
}

func (s *Stack) component(name string) (Component, bool) {
	for _, c := range s.components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// process returns the process called name.
func (s *Stack) process(name string) (Component, bool) {
	for _, c := range s.processes() {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// noProcess is the error for a name that is no process of the stack.
func (s *Stack) noProcess(name string) error {
	if _, ok := s.component(name); ok && s.opts.AllInOne {
		return ErrOneProcess{Component: name}
	}
	return fmt.Errorf("no component %q", name)
}

// running returns the live process called name.
func (s *Stack) running(name string) (*proc, error) {
	if _, ok := s.process(name); !ok {
		return nil, s.noProcess(name)
	}
	s.mu.Lock()
	p := s.procs[name]
	s.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("%s is not running", name)
	}
	select {
	case <-p.done:
		return nil, fmt.Errorf("%s is not running (it exited: %s)", name, exitText(p.err))
	default:
		return p, nil
	}
}

// waitComponent polls one component's readiness until timeout; it fails
// early when the process exits.
func (s *Stack) waitComponent(ctx context.Context, c Component, p *proc, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var check func(context.Context) bool
	if c.Name == "gateway" || c.Name == AllInOne {
		client := &http.Client{Timeout: 2 * time.Second}
		check = func(ctx context.Context) bool {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL()+"/readyz", nil)
			if err != nil {
				return false
			}
			resp, err := client.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
	} else {
		conn, err := grpc.NewClient(s.Addr(c.Name), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		health := healthpb.NewHealthClient(conn)
		check = func(ctx context.Context) bool {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if check(ctx) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start-up (%s; see its log)", c.Name, exitText(p.err))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w", c.Name, timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// How a process ended, as far as the stack is concerned.
type exit int

const (
	exitUnexpected exit = iota // on its own: reported on Exited
	exitDeliberate             // Kill or Terminate ended it
	exitStopping               // Stop ended it
)

func exitKind(stopping, deliberate bool) exit {
	switch {
	case stopping:
		return exitStopping
	case deliberate:
		return exitDeliberate
	default:
		return exitUnexpected
	}
}

// exitText describes cmd.Wait's result.
func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
