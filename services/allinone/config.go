package allinone

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/kassa-dev/kassa/gateway"
	"github.com/kassa-dev/kassa/services/platform/boot"
)

// Settings. Every component keeps the settings it has as a process of its
// own, under its name: the user service's -database-url is -user-database-url
// here, its DATABASE_URL is USER_DATABASE_URL, the gateway's -listen is
// -gateway-listen. Where the prefixed variable is unset, a component reads
// the plain one (LOG_LEVEL, AUTH_ISSUER, DB_MAX_CONNS, ...), so a setting
// every component shares is given once, except for perInstance: those
// must differ between components, so a plain one would be wrong for all
// but one of them, and is ignored.
var perInstance = map[string]bool{
	"LISTEN_ADDR":             true,
	"ADMIN_ADDR":              true,
	"DATABASE_URL":            true,
	"AUTH_CLIENT_ID":          true,
	"AUTH_CLIENT_SECRET":      true,
	"AUTH_CLIENT_SECRET_FILE": true,
}

// component is one of the five, with its settings as its own process
// declares them.
type component struct {
	name string
	spec boot.Spec // zero for the gateway
	// own holds the component's flags under their own names; the
	// process's flag set holds the same values under prefixed names.
	own *flag.FlagSet
	// Exactly one of the two is set.
	loadService func() (boot.Config, error)
	loadGateway func() (gateway.Config, error)
	getenv      func(string) string
}

// componentEnv is the environment as component name reads it.
func componentEnv(getenv func(string) string, name string) func(string) string {
	prefix := strings.ToUpper(name) + "_"
	return func(key string) string {
		if v := getenv(prefix + key); v != "" || perInstance[key] {
			return v
		}
		return getenv(key)
	}
}

// declare declares every component's settings on fs under prefixed names.
func declare(fs *flag.FlagSet, comps []*component, getenv func(string) string) {
	for _, c := range comps {
		c.getenv = componentEnv(getenv, c.name)
		c.own = flag.NewFlagSet(c.name, flag.ContinueOnError)
		if c.name == gatewayName {
			// The upstreams are in process: no addresses to give.
			c.loadGateway = gateway.Declare(c.own, c.getenv, false)
		} else {
			c.loadService = boot.Declare(c.spec, c.own, c.getenv, false)
		}
		c.own.VisitAll(func(f *flag.Flag) {
			fs.Var(f.Value, c.name+"-"+f.Name, c.usage(f.Usage))
		})
	}
}

// envRef is how a usage text or an error names a variable.
var envRef = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)`)

// usage is a flag's usage with its variable as the component reads it.
func (c *component) usage(u string) string {
	prefix := strings.ToUpper(c.name) + "_"
	return envRef.ReplaceAllStringFunc(u, func(m string) string {
		v := envRef.FindStringSubmatch(m)[1]
		if perInstance[v] {
			return "(env " + prefix + v
		}
		return "(env " + prefix + v + ", else " + v
	})
}

// settingRef is how an error names a setting: "database-url (DATABASE_URL)".
var settingRef = regexp.MustCompile(`\b([a-z][a-z0-9-]*) \(([A-Z][A-Z0-9_]*)\)`)

// rename makes err, of the component's own loading, name its settings as
// this process has them ("user-database-url (USER_DATABASE_URL)") and
// say which component it is about.
func (c *component) rename(err error) error {
	prefix := strings.ToUpper(c.name) + "_"
	msg := settingRef.ReplaceAllStringFunc(err.Error(), func(m string) string {
		s := settingRef.FindStringSubmatch(m)
		if c.own.Lookup(s[1]) == nil {
			return m
		}
		return fmt.Sprintf("%s-%s (%s%s)", c.name, s[1], prefix, s[2])
	})
	return fmt.Errorf("%s: %s", c.name, msg)
}

// config is the whole process's configuration.
type config struct {
	services map[string]boot.Config
	gateway  gateway.Config
}

const usageText = `usage: kassa [serve|migrate] [flags]

  serve    apply every service's migrations and serve (default)
  migrate  apply every service's migrations and exit (for deploy jobs)

Runs the gateway and the four kassa services (user, billing, order,
notification) in one process: the gateway's and the services' calls to
each other are made in process, each service keeps its own database, pool,
gRPC port and admin port.

Every setting of a component is the setting of its own binary, prefixed by
its name: -user-database-url, env USER_DATABASE_URL. Where the prefixed
variable is unset the plain one is read (LOG_LEVEL, AUTH_ISSUER, ...),
except for the listen addresses, the database URL and the client
credentials, which are per component.

flags:
`

// parse reads the configuration of every component from args (without the
// program name). It returns flag.ErrHelp for -h.
func parse(comps []*component, args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("kassa", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, usageText)
		fs.PrintDefaults()
	}
	declare(fs, comps, getenv)
	cfg := config{services: map[string]boot.Config{}}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	for _, c := range comps {
		var err error
		if c.loadGateway != nil {
			cfg.gateway, err = c.loadGateway()
		} else {
			cfg.services[c.name], err = c.loadService()
		}
		if err != nil {
			errs = append(errs, c.rename(err))
		}
	}
	return cfg, errors.Join(errs...)
}
