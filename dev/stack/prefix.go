package stack

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// prefixWriter writes whole lines, each with a prefix; lines of the
// processes interleave but never mix.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

var outMu sync.Mutex // one line at a time across all processes

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.emit(p.buf)
		p.buf = nil
	}
}

func (p *prefixWriter) emit(line []byte) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(p.w, "%s%s\n", p.prefix, line)
}
