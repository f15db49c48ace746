package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Ports are distinct, below the ephemeral range, and bindable.
func TestPort_DistinctBelowEphemeralAndFree(t *testing.T) {
	hi := ephemeralStart()
	seen := map[int]bool{}
	for range 200 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if hi-lowest >= 1000 && (p < lowest || p >= hi) {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, hi)
		}
	}
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("Addr() = %s, not bindable: %v", addr, err)
	}
	l.Close()
}

// A port someone listens on is never handed out.
func TestPort_SkipsBusyPorts(t *testing.T) {
	var held []net.Listener
	busy := map[int]bool{}
	for range 300 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not bindable: %v", p, err)
		}
		held = append(held, l)
		busy[p] = true
	}
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	// Forget what was given so only the bind check stands between the
	// held ports and a second handout.
	mu.Lock()
	clear(given)
	mu.Unlock()
	for range 300 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if busy[p] {
			t.Fatalf("busy port %d handed out", p)
		}
	}
}
