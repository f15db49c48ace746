package paging_test

import (
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/paging"
)

func TestCursorRoundTrip(t *testing.T) {
	in := paging.Cursor{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: "abc"}
	out, err := paging.Decode(paging.Encode(in))
	if err != nil || !out.Time.Equal(in.Time) || out.ID != in.ID {
		t.Fatalf("round trip = %+v, %v; want %+v", out, err, in)
	}
	if c, err := paging.Decode(""); err != nil || !c.IsFirst() {
		t.Fatalf("empty token = %+v, %v", c, err)
	}
	for _, bad := range []string{"!!", "e30", "bm90IGpzb24"} {
		if _, err := paging.Decode(bad); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		in   int32
		want int
		ok   bool
	}{{0, paging.DefaultSize, true}, {1, 1, true}, {paging.MaxSize, paging.MaxSize, true}, {-1, 0, false}, {paging.MaxSize + 1, 0, false}}
	for _, tt := range tests {
		got, err := paging.Size(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("Size(%d) = %d, %v", tt.in, got, err)
		}
	}
}
