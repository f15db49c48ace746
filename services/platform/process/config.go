package process

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Config is the settings every kassa process has besides its own. Each is
// a flag with an environment fallback (RegisterFlags). The zero Config is
// valid: JSON lines at info, no profiling, no grace period.
type Config struct {
	LogLevel  string // -log-level, LOG_LEVEL: debug, info, warn or error; empty: info
	LogFormat string // -log-format, LOG_FORMAT: json or text; empty: json
	Pprof     bool   // -pprof, PPROF: /debug/pprof/ on the admin listener
	// ShutdownTimeout is how long the work in flight at SIGTERM may take
	// to finish before the rest is cut off.
	ShutdownTimeout time.Duration // -shutdown-timeout, SHUTDOWN_TIMEOUT

	// What RegisterFlags declared and Load still has to read: a PPROF that
	// is not a boolean, and -shutdown-timeout as text (a flag.Duration
	// would print its default differently in -h).
	pending *pendingFlags
}

type pendingFlags struct {
	pprofEnv string
	pprofErr error
	shutdown *string
}

// RegisterFlags declares the flags on fs, each defaulting to its
// environment variable (getenv) and then to the documented default.
// inFlight names what the process lets finish after SIGTERM in the help of
// -shutdown-timeout: "calls" for a gRPC service, "requests" for the
// gateway. Call Load after fs.Parse.
func (c *Config) RegisterFlags(fs *flag.FlagSet, getenv func(string) string, inFlight string) {
	env := func(envVar, def string) string { return EnvOr(getenv, envVar, def) }
	fs.StringVar(&c.LogLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("LOG_FORMAT", "json"), "json or text (env LOG_FORMAT)")
	p := &pendingFlags{pprofEnv: getenv("PPROF")}
	pprofDefault, err := strconv.ParseBool(env("PPROF", "false"))
	p.pprofErr = err
	fs.BoolVar(&c.Pprof, "pprof", pprofDefault, "serve /debug/pprof/ on the admin listener (env PPROF=true)")
	p.shutdown = fs.String("shutdown-timeout", env("SHUTDOWN_TIMEOUT", "15s"),
		fmt.Sprintf("how long in-flight %s may finish after SIGTERM (env SHUTDOWN_TIMEOUT)", inFlight))
	c.pending = p
}

// Load turns the parsed flags into settings and checks them (Validate),
// naming the flag and variable of a bad one. A PPROF that is not a
// boolean is refused even when -pprof is given, so a typo in a deployment
// does not go unnoticed; an empty -log-level or -log-format is refused
// like any other empty setting, although the zero Config means info and
// json.
func (c *Config) Load() error {
	if p := c.pending; p != nil {
		c.pending = nil
		if p.pprofErr != nil {
			return fmt.Errorf("pprof (PPROF): want true or false, got %q", p.pprofEnv)
		}
		d, err := time.ParseDuration(*p.shutdown)
		if err != nil || d < 0 {
			return fmt.Errorf("shutdown-timeout (SHUTDOWN_TIMEOUT): want a duration such as 15s, got %q", *p.shutdown)
		}
		c.ShutdownTimeout = d
		if c.LogLevel == "" {
			return levelError(c.LogLevel)
		}
		if c.LogFormat == "" {
			return formatError(c.LogFormat)
		}
	}
	return c.Validate()
}

// Validate reports the first setting that cannot work, naming its flag and
// environment variable.
func (c Config) Validate() error {
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("shutdown-timeout (SHUTDOWN_TIMEOUT): want a non-negative duration, got %v", c.ShutdownTimeout)
	}
	if _, err := c.level(); err != nil {
		return err
	}
	switch c.LogFormat {
	case "json", "text", "":
	default:
		return formatError(c.LogFormat)
	}
	return nil
}

func formatError(got string) error {
	return fmt.Errorf("log-format (LOG_FORMAT): want json or text, got %q", got)
}

func levelError(got string) error {
	return fmt.Errorf("log-level (LOG_LEVEL): want debug, info, warn or error, got %q", got)
}

func (c Config) level() (slog.Level, error) {
	var level slog.Level
	if c.LogLevel == "" {
		return slog.LevelInfo, nil
	}
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, levelError(c.LogLevel)
	}
	return level, nil
}
