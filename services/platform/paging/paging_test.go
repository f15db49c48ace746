package paging_test

import (
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
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
}

// A token whose parts are not what Encode writes is a bad request, never
// something for the database to choke on: the id must be a UUID in the
// canonical form, the time present.
func TestDecode_RefusesForgedTokens(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const id = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	tests := []struct {
		name  string
		token string
	}{
		{"not base64", "!!"},
		{"empty object", "e30"},
		{"not JSON", "bm90IGpzb24"},
		{"no time", paging.Encode(paging.Cursor{ID: id})},
		{"no id", paging.Encode(paging.Cursor{Time: at})},
		{"SQL in the id", paging.Encode(paging.Cursor{Time: at, ID: "1; DROP TABLE x"})},
		{"urn:uuid: prefix", paging.Encode(paging.Cursor{Time: at, ID: "urn:uuid:" + id})},
		{"braces", paging.Encode(paging.Cursor{Time: at, ID: "{" + id + "}"})},
		{"no dashes", paging.Encode(paging.Cursor{Time: at, ID: "6f9619ff8b86d011b42d00c04fc964ff"})},
		{"upper case", paging.Encode(paging.Cursor{Time: at, ID: "6F9619FF-8B86-D011-B42D-00C04FC964FF"})},
		{"NUL after the id", paging.Encode(paging.Cursor{Time: at, ID: id + "\x00"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := paging.Decode(tt.token)
			if apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("Decode = %v, want an invalid page_token", err)
			}
			if _, err := paging.Parse(10, tt.token); apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("Parse = %v, want an invalid page_token", err)
			}
		})
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
