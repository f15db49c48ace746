// Package paging implements AIP-158 pagination with keyset cursors: a page
// token is an opaque encoding of the sort key of the last item returned, so
// pages stay stable while rows are inserted and deep pages cost no OFFSET.
package paging

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

const (
	// DefaultSize is used when a request's page_size is 0.
	DefaultSize = 50
	// MaxSize is the largest page_size accepted.
	MaxSize = 1000
)

// Size validates a requested page size and applies the default.
func Size(n int32) (int, error) {
	switch {
	case n < 0 || n > MaxSize:
		return 0, apperr.Invalid("page_size", "must be between 0 and %d, got %d", MaxSize, n)
	case n == 0:
		return DefaultSize, nil
	}
	return int(n), nil
}

// Cursor is the position after which the next page starts: the sort key
// (time, id) of the last item of the previous page.
type Cursor struct {
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}

// Encode makes a page token from the last item of a page.
func Encode(c Cursor) string {
	b, _ := json.Marshal(c) // a struct of a time and a string always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode parses a page token; the empty token is the zero Cursor (first page).
func Decode(token string) (Cursor, error) {
	var c Cursor
	if token == "" {
		return c, nil
	}
	// Every kassa list is keyed by (time, UUID): checking both here makes a
	// forged token a bad request rather than a database error.
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Time.IsZero() || !canonicalUUID(c.ID) {
		return Cursor{}, apperr.Invalid("page_token", "is not a token returned by this API")
	}
	return c, nil
}

// canonicalUUID reports whether s is a UUID written the way this API writes
// them: 36 lower-case hex digits and dashes. uuid.Parse also takes
// "urn:uuid:", which PostgreSQL's uuid type refuses (a 500 if it got that
// far), and braces or bare hex. Tokens come from Encode, which writes ids as
// PostgreSQL returns them, so any other spelling is forged.
func canonicalUUID(s string) bool {
	id, err := uuid.Parse(s)
	return err == nil && id.String() == s
}

// Request is a validated page request.
type Request struct {
	Size  int    // items on the page
	After Cursor // the page starts after this item
}

// Parse validates a request's page_size and page_token.
func Parse(pageSize int32, token string) (Request, error) {
	size, err := Size(pageSize)
	if err != nil {
		return Request{}, err
	}
	after, err := Decode(token)
	if err != nil {
		return Request{}, err
	}
	return Request{Size: size, After: after}, nil
}

// Limit is how many rows to fetch: one more than the page, which tells
// whether another page follows.
func (r Request) Limit() int { return r.Size + 1 }

// Cut trims rows fetched with r.Limit() to the page and returns the token of
// the next page, "" on the last one. key gives an item's sort key.
func Cut[T any](r Request, rows []T, key func(T) Cursor) (page []T, next string) {
	if len(rows) <= r.Size {
		return rows, ""
	}
	rows = rows[:r.Size]
	return rows, Encode(key(rows[r.Size-1]))
}

// IsFirst reports whether c is the start of the list.
func (c Cursor) IsFirst() bool { return c.ID == "" }
