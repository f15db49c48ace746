// Package freeport hands out loopback TCP ports that nothing listens on,
// for tests and development stacks that must name a server's address
// before the server binds it.
//
// Asking the kernel for port 0 and closing the listener again is not
// enough: that port comes from the ephemeral range, which is also where
// the client end of every outgoing connection gets its port, and a test
// run opens thousands of those (to PostgreSQL, between services). Between
// "chosen" and "bound" one of them may take it, and the server fails with
// "address already in use". Ports here come from below the ephemeral
// range, where no outgoing connection lands, are checked free by binding
// them, and are handed out once per process.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowest is where the search starts, above the ports people run things on
// by hand (5432, 8080, the 9100s).
const lowest = 15000

// fallbackEphemeralStart is Linux's default when the range is unreadable.
const fallbackEphemeralStart = 32768

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Port returns a loopback TCP port that is free now and was not returned
// before by this process.
func Port() (int, error) {
	hi := ephemeralStart()
	if hi-lowest < 1000 {
		// An unusual range leaves too little room below it; the kernel's
		// choice is the remaining option.
		return kernelPort()
	}
	mu.Lock()
	defer mu.Unlock()
	for range 500 {
		p := lowest + rand.IntN(hi-lowest)
		if given[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		given[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no free loopback port found below the ephemeral range")
}

// Addr is Port as "127.0.0.1:port".
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallbackEphemeralStart
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return fallbackEphemeralStart
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 {
		return fallbackEphemeralStart
	}
	return n
}

func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TestAddr is Addr for a test, which it fails when no port is free.
func TestAddr(t testing.TB) string {
	t.Helper()
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
