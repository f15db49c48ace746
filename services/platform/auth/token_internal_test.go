package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestCached_RefreshesAMinuteBeforeExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	var fetches atomic.Int32
	var fail atomic.Bool
	src := TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		if fail.Load() {
			return "", time.Time{}, errors.New("issuer down")
		}
		n := fetches.Add(1)
		return string(rune('a' + n - 1)), clock.now().Add(15 * time.Minute), nil
	})
	c := newCached(src, clock.now)
	steps := []struct {
		advance   time.Duration
		failFetch bool
		want      string
		wantErr   bool
		fetches   int32
	}{
		{0, false, "a", false, 1},
		{13 * time.Minute, false, "a", false, 1},               // 2 min left: reused
		{90 * time.Second, false, "b", false, 2},               // 30 s left: replaced
		{14*time.Minute + 30*time.Second, true, "b", false, 2}, // refresh fails, b still valid
		{time.Minute, true, "", true, 2},                       // b expired, issuer still down
		{10 * time.Second, false, "c", false, 3},               // issuer back
	}
	for i, s := range steps {
		clock.advance(s.advance)
		fail.Store(s.failFetch)
		tok, _, err := c.Token(context.Background())
		if (err != nil) != s.wantErr || tok != s.want || fetches.Load() != s.fetches {
			t.Fatalf("step %d: Token = %q, %v after %d fetches; want %q (error %v) after %d", i, tok, err, fetches.Load(), s.want, s.wantErr, s.fetches)
		}
	}
}

func TestCached_ConcurrentCallers_ShareOneFetch(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int32
	c := Cached(TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		fetches.Add(1)
		<-release
		return "tok", time.Now().Add(time.Hour), nil
	}))
	const callers = 20
	var wg sync.WaitGroup
	got := make([]string, callers)
	for i := range callers {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _, _ = c.Token(context.Background()) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for fetches.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for %d concurrent callers, want 1", n, callers)
	}
	for i, tok := range got {
		if tok != "tok" {
			t.Errorf("caller %d got %q", i, tok)
		}
	}
}

// A caller that gives up does not cancel the fetch the others wait for.
func TestCached_CallerCancels_FetchGoesOn(t *testing.T) {
	release := make(chan struct{})
	c := Cached(TokenSourceFunc(func(ctx context.Context) (string, time.Time, error) {
		select {
		case <-release:
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		}
		return "tok", time.Now().Add(time.Hour), nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, _, err := c.Token(ctx); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(release)
	if tok, _, err := c.Token(context.Background()); err != nil || tok != "tok" {
		t.Errorf("next caller = %q, %v", tok, err)
	}
}

func TestClientCredentials_FetchesWithoutToken(t *testing.T) {
	var sawMarker bool
	ts := ClientCredentials(func(ctx context.Context) (string, time.Duration, error) {
		sawMarker = withoutToken(ctx)
		return "svc", 15 * time.Minute, nil
	})
	tok, exp, err := ts.Token(context.Background())
	if err != nil || tok != "svc" || time.Until(exp) < 14*time.Minute {
		t.Fatalf("Token = %q, %v, %v", tok, exp, err)
	}
	if !sawMarker {
		t.Error("the fetch ran without WithoutToken: on a connection with PerRPCCredentials it would wait for itself")
	}
	bad := ClientCredentials(func(context.Context) (string, time.Duration, error) { return "", 0, nil })
	if _, _, err := bad.Token(context.Background()); err == nil {
		t.Error("an empty answer of the token endpoint was accepted")
	}
}
