package retry

import (
	"context"
	"time"
)

// Every calls pass every interval until ctx is done: the loop around every
// repair and relay pass. A pass that takes longer than interval delays the
// next one rather than overlapping it (a ticker drops the ticks it missed).
func Every(ctx context.Context, interval time.Duration, pass func(ctx context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pass(ctx)
	}
}
