package admission

import (
	"context"
	"sync"
)

// Keyed is one Limiter per key: a bound on the calls for one account or
// one buyer, whose work serializes on one database row however many slots
// the service as a whole has. Only keys with calls in flight or waiting
// hold a limiter, so the table stays as small as the current load. A nil
// *Keyed admits everything.
type Keyed struct {
	cfg Config
	mu  sync.Mutex
	m   map[string]*keyed
}

type keyed struct {
	l    *Limiter
	refs int
}

// NewKeyed returns a per-key limiter of cfg, or nil when cfg.MaxInFlight
// is 0.
func NewKeyed(cfg Config) *Keyed {
	if cfg.MaxInFlight <= 0 {
		return nil
	}
	return &Keyed{cfg: cfg, m: make(map[string]*keyed)}
}

// Acquire is Limiter.Acquire for key's limiter.
func (k *Keyed) Acquire(ctx context.Context, key string) (release func(), err error) {
	if k == nil {
		return func() {}, nil
	}
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &keyed{l: New(k.cfg)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	done := func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	rel, err := e.l.Acquire(ctx)
	if err != nil {
		done()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { rel(); done() }) }, nil
}

// Keys is the number of keys with calls in flight or waiting.
func (k *Keyed) Keys() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}
