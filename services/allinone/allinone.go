// Package allinone runs kassa as one process: the gateway and the four
// services, each built by its own composition root (the services'
// wire.Spec, the gateway's Declare and Serve) exactly as its own binary
// builds it, with the calls between them made in process. See README.md.
package allinone

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kassa-dev/kassa/gateway"
	billingwire "github.com/kassa-dev/kassa/services/billing/wire"
	notificationwire "github.com/kassa-dev/kassa/services/notification/wire"
	orderwire "github.com/kassa-dev/kassa/services/order/wire"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/boot"
	"github.com/kassa-dev/kassa/services/platform/process"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	userwire "github.com/kassa-dev/kassa/services/user/wire"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

const gatewayName = "gateway"

// components are the five in start order: a service starts after the
// services it calls (so its start-up work finds them built), the gateway
// last; they stop in reverse, so no component stops while one that calls
// it still serves.
func components() []*component {
	return []*component{
		{name: "billing", spec: billingwire.Spec()},
		{name: "user", spec: userwire.Spec()},
		{name: "notification", spec: notificationwire.Spec()},
		{name: "order", spec: orderwire.Spec()},
		{name: gatewayName},
	}
}

// Options are what a caller of Run sets besides the settings.
type Options struct {
	// Version is the build's version, served as info.version of the
	// gateway's OpenAPI document; empty keeps "unreleased".
	Version string
}

// Run is the whole life of the process. args[0] is the program name. It
// returns when ctx is cancelled or SIGINT/SIGTERM arrives and every
// component has drained, the gateway first.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, o Options) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest, err := boot.Command(args[1:])
	if err != nil {
		fmt.Fprint(stdout, usageText)
		return err
	}
	comps := components()
	cfg, err := parse(comps, rest, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cmd == "migrate" {
		return migrate(ctx, comps, cfg, stdout)
	}
	cfg.gateway.Version = o.Version
	sys, err := start(ctx, comps, cfg, stdout)
	if err != nil {
		return err
	}
	return sys.serve(ctx)
}

// part is one started component.
type part struct {
	c        *component
	log      *slog.Logger
	tel      *telemetry.Telemetry
	server   *rpcserver.Server // nil for the gateway
	verifier *auth.Verifier
	service  *boot.Service // nil for the gateway
	// ctx is the component's life, cancel ends it: each one's own, so
	// that they stop one after the other.
	ctx    context.Context
	cancel context.CancelFunc
}

// system is the started process.
type system struct {
	parts   []*part
	gateway gateway.Config
	byName  map[string]*part
	// release runs last to first when the process ends.
	release []func()
}

// start builds every component: first each one's log, telemetry and gRPC
// server, so that every service's peers, whenever it is built, are
// channels to servers that exist; then the services in start order. Spans
// go to spans too (tests).
func start(ctx context.Context, comps []*component, cfg config, stdout io.Writer, spans ...sdktrace.SpanProcessor) (_ *system, err error) {
	sys := &system{gateway: cfg.gateway, byName: map[string]*part{}}
	defer func() {
		if err != nil {
			sys.close()
		}
	}()
	for _, c := range comps {
		p := &part{c: c}
		p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
		sys.release = append(sys.release, p.cancel)
		pc := cfg.gateway.Process
		if c.name != gatewayName {
			pc = cfg.services[c.name].Process
		}
		var stopTel func()
		if p.log, p.tel, stopTel, err = process.StartWith(ctx, c.name, pc, c.getenv, stdout, spans); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		sys.release = append(sys.release, stopTel)
		if c.name != gatewayName {
			var v *auth.Verifier
			if p.server, v, err = boot.NewServer(ctx, c.spec, cfg.services[c.name], p.log, p.tel); err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			if v != nil {
				sys.release = append(sys.release, v.Close)
			}
			p.verifier = v
		}
		sys.parts = append(sys.parts, p)
		sys.byName[c.name] = p
	}
	for _, p := range sys.parts {
		if p.server == nil {
			continue
		}
		scfg := cfg.services[p.c.name]
		if p.service, err = boot.Build(p.ctx, p.c.spec, scfg, boot.Env{
			Log: p.log, Telemetry: p.tel, Server: p.server, Verifier: p.verifier,
			Connect: sys.connect(p, scfg),
		}); err != nil {
			return nil, p.c.rename(err)
		}
	}
	for _, name := range []string{"user", "billing", "order", "notification"} {
		sys.gateway.Upstreams[name] = sys.byName[name].server.Channel(sys.byName[gatewayName].tel)
	}
	return sys, nil
}

// connect is how service from reaches its peers: a channel of the peer's
// server, with from's client telemetry, deadline, retries and token, in
// the order the dial options of its own binary apply them.
func (sys *system) connect(from *part, cfg boot.Config) func(boot.Peer, credentials.PerRPCCredentials) (grpc.ClientConnInterface, func(), error) {
	return func(p boot.Peer, creds credentials.PerRPCCredentials) (grpc.ClientConnInterface, func(), error) {
		to, ok := sys.byName[p.Name]
		if !ok || to.server == nil {
			return nil, nil, fmt.Errorf("%s calls %s, which this process does not run", from.c.name, p.Name)
		}
		metrics, metricsStream := from.tel.ClientInterceptors()
		credsUnary, credsStream := rpcclient.Credentials(creds)
		unary := []grpc.UnaryClientInterceptor{metrics}
		if !p.NoRetry {
			unary = append(unary, rpcclient.Retries())
		}
		unary = append(unary, credsUnary)
		conn := rpcclient.Channel(to.server.Channel(from.tel), cfg.CallTimeout, unary, []grpc.StreamClientInterceptor{metricsStream, credsStream})
		return conn, func() {}, nil
	}
}

// serve serves every component until ctx is done or one of them fails,
// then stops them in reverse start order, each after the one before it
// has drained: the gateway lets its requests finish, then the order
// service its calls and background loops, and so on, so that no call is
// cut off because the component it calls has stopped first.
func (sys *system) serve(ctx context.Context) error {
	defer sys.close()
	type result struct {
		name string
		err  error
	}
	done := make([]chan error, len(sys.parts))
	failed := make(chan result, len(sys.parts))
	for i, p := range sys.parts {
		done[i] = make(chan error, 1)
		go func() {
			var err error
			if p.service != nil {
				err = p.service.Serve(p.ctx)
			} else {
				err = gateway.Serve(p.ctx, sys.gateway, p.log, p.tel)
			}
			if err != nil {
				err = p.c.rename(err)
				failed <- result{p.c.name, err}
			}
			done[i] <- err
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case r := <-failed:
		first = r.err
	}
	for i := len(sys.parts) - 1; i >= 0; i-- {
		sys.parts[i].cancel()
		if err := <-done[i]; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close releases what start acquired, last first.
func (sys *system) close() {
	for _, p := range sys.parts {
		if p.service != nil {
			p.service.Close()
		}
	}
	for i := len(sys.release) - 1; i >= 0; i-- {
		sys.release[i]()
	}
	sys.release = nil
}

// migrate applies every service's migrations to its database, as each
// binary's migrate command does, and exits.
func migrate(ctx context.Context, comps []*component, cfg config, stdout io.Writer) error {
	for _, c := range comps {
		if c.name == gatewayName {
			continue
		}
		scfg := cfg.services[c.name]
		log, tel, stopTel, err := process.Start(ctx, c.name, scfg.Process, c.getenv, stdout)
		if err != nil {
			return c.rename(err)
		}
		err = boot.Migrate(ctx, c.spec, scfg, tel, log)
		stopTel()
		if err != nil {
			return c.rename(err)
		}
	}
	return nil
}
