package auth

import (
	"context"
	"errors"
	"sync"
	"time"
)

// TokenSource gives the access token a service sends its peers.
type TokenSource interface {
	Token(ctx context.Context) (token string, expiry time.Time, err error)
}

// TokenSourceFunc adapts a function to TokenSource.
type TokenSourceFunc func(ctx context.Context) (string, time.Time, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (string, time.Time, error) { return f(ctx) }

// refreshMargin is how long before expiry a cached token is replaced, so a
// call never leaves with a token that expires on the way.
const refreshMargin = time.Minute

// fetchTimeout bounds one fetch shared by many callers; it does not follow
// any one caller's deadline, or the first caller to give up would fail the
// others too.
const fetchTimeout = 10 * time.Second

// failureBackoff is how long a failed refresh is not retried while the
// cached token is still good, so an unreachable issuer is not asked again
// on every call.
const failureBackoff = 5 * time.Second

// Cached wraps ts so its token is reused until shortly before it expires
// (a minute, or half its lifetime when that is shorter), and concurrent
// callers share one fetch. When a refresh fails and the old token is still
// valid, the old token is used.
func Cached(ts TokenSource) TokenSource { return newCached(ts, time.Now) }

// ClientCredentials is the TokenSource of a service that gets its token
// from the issuer (the user service's AuthService.Token with its client id
// and secret): fetch returns a token and its lifetime. Fetches are cached
// (see Cached) and run with WithoutToken, so the fetch call itself, made on
// a connection that carries PerRPCCredentials, goes without a token
// instead of waiting for itself.
func ClientCredentials(fetch func(ctx context.Context) (token string, expiresIn time.Duration, err error)) TokenSource {
	return Cached(TokenSourceFunc(func(ctx context.Context) (string, time.Time, error) {
		start := time.Now()
		tok, in, err := fetch(WithoutToken(ctx))
		if err != nil {
			return "", time.Time{}, err
		}
		if tok == "" || in <= 0 {
			return "", time.Time{}, errors.New("auth: token endpoint returned no token or no lifetime")
		}
		// From before the call: the lifetime started when the issuer
		// answered, which is no later than now.
		return tok, start.Add(in), nil
	}))
}

type noTokenKey struct{}

// WithoutToken marks ctx so PerRPCCredentials attaches no token to calls
// made with it.
func WithoutToken(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTokenKey{}, true)
}

func withoutToken(ctx context.Context) bool { b, _ := ctx.Value(noTokenKey{}).(bool); return b }

type cached struct {
	src TokenSource
	now func() time.Time

	mu        sync.Mutex
	token     string
	expiry    time.Time
	renewAt   time.Time
	retryAt   time.Time
	inflight  chan struct{}
	lastError error
}

func newCached(src TokenSource, now func() time.Time) *cached { return &cached{src: src, now: now} }

func (c *cached) Token(ctx context.Context) (string, time.Time, error) {
	c.mu.Lock()
	now := c.now()
	if c.token != "" && now.Before(c.renewAt) {
		tok, exp := c.token, c.expiry
		c.mu.Unlock()
		return tok, exp, nil
	}
	if c.token != "" && now.Before(c.expiry) && now.Before(c.retryAt) {
		tok, exp := c.token, c.expiry
		c.mu.Unlock()
		return tok, exp, nil
	}
	wait := c.inflight
	if wait == nil {
		wait = make(chan struct{})
		c.inflight = wait
		go c.fetch(context.WithoutCancel(ctx), wait)
	}
	c.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return "", time.Time{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expiry) {
		return c.token, c.expiry, nil
	}
	if c.lastError != nil {
		return "", time.Time{}, c.lastError
	}
	return "", time.Time{}, errors.New("auth: token source returned an expired token")
}

func (c *cached) fetch(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	start := c.now()
	tok, exp, err := c.src.Token(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight = nil
	defer close(done)
	if err != nil {
		c.lastError = err
		c.retryAt = c.now().Add(failureBackoff)
		return
	}
	margin := min(refreshMargin, exp.Sub(start)/2)
	c.token, c.expiry, c.renewAt, c.lastError = tok, exp, exp.Add(-margin), nil
}
