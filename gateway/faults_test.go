package gateway

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Tools of the fault tests: cutting a fake's connections, requests in the
// background while a fault is injected, and polling for recovery.

// connListener remembers the connections it accepted, so a test can cut
// them the way a crashing process or a dropped network would.
type connListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// reset closes every accepted TCP connection with a RST (linger 0), so the
// peer reads "connection reset by peer" in the middle of its calls.
func (l *connListener) reset(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		tc, ok := c.(*net.TCPConn)
		if !ok {
			t.Fatalf("reset needs TCP connections, got %T", c)
		}
		if err := tc.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		_ = tc.Close()
	}
}

// start sends a GET in the background; the response arrives on the
// channel (status 0 and the error as body if the request failed).
func (e *testEnv) start(path string) <-chan response {
	out := make(chan response, 1)
	go func() {
		resp, err := http.Get(e.url + path)
		if err != nil {
			out <- response{body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out <- response{status: resp.StatusCode, header: resp.Header, body: b}
	}()
	return out
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}
