// Package validate checks the request fields every kassa service shares: ids,
// idempotency keys, money amounts and currency codes. Failures are
// apperr.Invalid errors that name the field.
package validate

import (
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// MaxAmount bounds money amounts (minor units) so sums of many of them stay
// far from int64 overflow: 1e15 cents is ten trillion dollars.
const MaxAmount int64 = 1_000_000_000_000_000

// MaxRequestIDLen bounds idempotency keys.
const MaxRequestIDLen = 128

// ID checks that s is a UUID and returns it in canonical lower-case form.
func ID(field, s string) (string, error) {
	if s == "" {
		return "", apperr.Invalid(field, "is required")
	}
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", apperr.Invalid(field, "must be a UUID, got %q", truncate(s))
	}
	return id.String(), nil
}

// OptionalID is ID that accepts the empty string.
func OptionalID(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	return ID(field, s)
}

// RequestID checks an idempotency key. required says whether it may be empty.
func RequestID(field, s string, required bool) error {
	switch {
	case s == "" && required:
		return apperr.Invalid(field, "is required: set a unique key per operation (a UUID is recommended) so retries are safe")
	case len(s) > MaxRequestIDLen:
		return apperr.Invalid(field, "must be at most %d characters", MaxRequestIDLen)
	case strings.TrimSpace(s) != s:
		return apperr.Invalid(field, "must not start or end with spaces")
	}
	return nil
}

// Amount checks a money amount in minor units: positive and at most
// MaxAmount.
func Amount(field string, n int64) error {
	switch {
	case n <= 0:
		return apperr.Invalid(field, "must be a positive number of minor units (cents), got %d", n)
	case n > MaxAmount:
		return apperr.Invalid(field, "must be at most %d minor units, got %d", MaxAmount, n)
	}
	return nil
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// Currency checks an ISO 4217 alphabetic code ("USD"). The empty string is
// allowed and means "the default"; callers decide what that is.
func Currency(field, s string) error {
	if s != "" && !currencyRE.MatchString(s) {
		return apperr.Invalid(field, "must be an ISO 4217 code of three upper-case letters such as USD, got %q", truncate(s))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
