// Package notification is the domain of the notification service: the
// letters kassa "sends" to users (by storing them), the rules a letter must
// follow and the errors the service reports.
package notification

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// Limits of a letter, also enforced by CHECK constraints in the schema.
const (
	MaxSubjectLen = 200
	MaxBodyLen    = 10000
)

// Notification is a letter to a user.
type Notification struct {
	ID      string
	UserID  string
	Email   string
	Subject string
	Body    string
	// OrderID is the order the letter is about, "" when none.
	OrderID string
	// RequestID is the idempotency key the letter was sent with, "" when none.
	RequestID  string
	CreateTime time.Time
}

// SameLetter reports whether n and o are the same letter to the same user.
// A retry with a used request_id must carry the same letter; otherwise the
// caller reused a key for a different letter, which is refused.
func (n Notification) SameLetter(o Notification) bool {
	return n.UserID == o.UserID && n.Email == o.Email && n.Subject == o.Subject &&
		n.Body == o.Body && n.OrderID == o.OrderID
}

// ErrNotFound is returned for a letter that does not exist or belongs to
// another user (the two are indistinguishable on purpose).
var ErrNotFound = apperr.NotFound("notification not found").WithReason("NOTIFICATION_NOT_FOUND")

// ErrUserNotFound is the answer for the letters of a user that never
// existed, asked by an admin (a customer asking for another user's
// letters gets ErrNotFound before anything is looked up).
func ErrUserNotFound(userID string) error {
	return apperr.NotFound("user %s not found", userID).WithReason("USER_NOT_FOUND")
}

// CheckSubject accepts 1-200 characters on one line (a subject is a mail
// header, so a line break in it could forge other headers).
func CheckSubject(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return apperr.Invalid(field, "is required")
	case utf8.RuneCountInString(s) > MaxSubjectLen:
		return apperr.Invalid(field, "must be at most %d characters", MaxSubjectLen)
	case strings.ContainsAny(s, "\r\n"):
		return apperr.Invalid(field, "must be a single line")
	}
	return nil
}

// CheckBody accepts 1-10000 characters that are not all blank.
func CheckBody(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return apperr.Invalid(field, "is required")
	case utf8.RuneCountInString(s) > MaxBodyLen:
		return apperr.Invalid(field, "must be at most %d characters", MaxBodyLen)
	}
	return nil
}
