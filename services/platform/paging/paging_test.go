package paging_test

import (
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/paging"
)

func TestCursorRoundTrip(t *testing.T) {
	in := paging.Cursor{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: "6f9619ff-8b86-d011-b42d-00c04fc964ff"}
	out, err := paging.Decode(paging.Encode(in))
	if err != nil || !out.Time.Equal(in.Time) || out.ID != in.ID {
		t.Fatalf("round trip = %+v, %v; want %+v", out, err, in)
	}
	if c, err := paging.Decode(""); err != nil || !c.IsFirst() {
		t.Fatalf("empty token = %+v, %v", c, err)
	}
	forged := []string{
		"!!", "e30", "bm90IGpzb24",
		paging.Encode(paging.Cursor{Time: in.Time, ID: "1; DROP TABLE x"}), // not a UUID
		paging.Encode(paging.Cursor{ID: in.ID}),                            // no time
	}
	for _, bad := range forged {
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

func TestCut(t *testing.T) {
	key := func(n int) paging.Cursor {
		return paging.Cursor{Time: time.Unix(int64(n), 0).UTC(), ID: "6f9619ff-8b86-d011-b42d-00c04fc964ff"}
	}
	req, err := paging.Parse(2, "")
	if err != nil || req.Limit() != 3 {
		t.Fatalf("Parse = %+v, %v", req, err)
	}
	page, next := paging.Cut(req, []int{1, 2, 3}, key)
	if len(page) != 2 || next == "" {
		t.Fatalf("full fetch: page %v, next %q; want 2 items and a token", page, next)
	}
	if c, err := paging.Decode(next); err != nil || !c.Time.Equal(key(2).Time) {
		t.Fatalf("next token points at %+v, %v; want the last item of the page", c, err)
	}
	if page, next := paging.Cut(req, []int{1, 2}, key); len(page) != 2 || next != "" {
		t.Fatalf("last page: %v, %q; want 2 items and no token", page, next)
	}
	if _, err := paging.Parse(-1, ""); err == nil {
		t.Fatal("Parse accepted page_size -1")
	}
}
