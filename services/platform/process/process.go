// Package process is what every kassa process (the four services and the
// gateway) sets up the same way before it serves: the settings every one
// of them has (-log-level, -log-format, -pprof, -shutdown-timeout), the
// rule by which a flag falls back to an environment variable, and the
// start of its logging and telemetry. Keeping them here means a setting
// is named, defaulted and explained once, and an operator who knows one
// binary's flags knows them in all five.
package process

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/services/platform/telemetry"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// EnvName is the environment variable a flag falls back to:
// -db-max-conns reads DB_MAX_CONNS.
func EnvName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// EnvOr is the default a flag is declared with: the environment variable
// envVar (read through getenv) when it is set and not empty, else def. A
// flag given on the command line therefore beats the environment, which
// beats the built-in default.
func EnvOr(getenv func(string) string, envVar, def string) string {
	if v := getenv(envVar); v != "" {
		return v
	}
	return def
}

// flushTimeout bounds how long Start's stop waits for buffered spans: an
// unreachable collector must not hold up the exit of a stopped process.
const flushTimeout = 5 * time.Second

// Start builds what the process logs and measures with. The logger writes
// to w as c describes, puts service on every line and the trace ids on the
// lines of a traced request. The telemetry (telemetry.New, reading the
// OTEL_* variables through getenv) is also installed as OpenTelemetry's
// globals, for libraries that ask them; kassa's own code is handed it.
// Call stop before exiting: it flushes buffered spans and logs a failure
// to do so.
func Start(ctx context.Context, service string, c Config, getenv func(string) string, w io.Writer) (log *slog.Logger, tel *telemetry.Telemetry, stop func(), err error) {
	return StartWith(ctx, service, c, getenv, w, nil)
}

// StartWith is Start with spans also going to the given processors (a
// test's in-memory exporter; see telemetry.Options.SpanProcessors).
func StartWith(ctx context.Context, service string, c Config, getenv func(string) string, w io.Writer, spans []sdktrace.SpanProcessor) (log *slog.Logger, tel *telemetry.Telemetry, stop func(), err error) {
	log, err = c.newLogger(w)
	if err != nil {
		return nil, nil, nil, err
	}
	log = log.With("service", service)
	tel, err = telemetry.New(ctx, telemetry.Options{Service: service, Getenv: getenv, SpanProcessors: spans})
	if err != nil {
		return nil, nil, nil, err
	}
	otel.SetTracerProvider(tel.TracerProvider)
	otel.SetTextMapPropagator(tel.Propagator)
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			log.Warn("flush spans", "error", err)
		}
	}
	return log, tel, stop, nil
}

func (c Config) newLogger(w io.Writer) (*slog.Logger, error) {
	level, err := c.level()
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(telemetry.LogHandler(h)), nil
}
