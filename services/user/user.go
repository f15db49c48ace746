// Package user is the domain of the user service: users, the rules their
// fields follow, and the errors the service reports.
package user

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// MaxNameLen bounds given and family names, also enforced by a CHECK
// constraint in the schema (as is validate.MaxEmailLen for addresses).
const MaxNameLen = 100

// User is a customer. A user whose AccountReady is false has been saved
// but its billing account has not been confirmed open yet; CreateUser
// retries and the repair loop finish it.
type User struct {
	ID           string
	Username     string
	Email        string
	FirstName    string
	LastName     string
	Phone        string // "" when unknown
	AccountReady bool
	CreateTime   time.Time
	UpdateTime   time.Time
	DeleteTime   time.Time // zero while the user is live
	// PasswordHash is the argon2id hash (package password) CreatePending
	// stores with a new user; "" for none. Reads leave it empty: only the
	// login path reads a hash, through its own query.
	PasswordHash string
}

// Pending is a live user whose account is not confirmed open, as the
// repair loop sees it.
type Pending struct {
	User
	// Attempts is how many repair attempts have failed so far.
	Attempts int
}

// Parked is a pending user the repair loop stopped retrying after the
// retry policy's last attempt, until an operator releases it.
type Parked struct {
	UserID    string
	Attempts  int
	LastError string
	ParkTime  time.Time
}

// Deletion is a user deleted at Time. Recent deletions form the list
// other services refuse access tokens by: a deleted user's tokens stay
// signed and unexpired until their TTL runs out.
type Deletion struct {
	UserID string
	Time   time.Time
}

// Deleted reports whether u was soft-deleted.
func (u User) Deleted() bool { return !u.DeleteTime.IsZero() }

// SameProfile reports whether u and o have the same client-set fields, which
// is what makes a CreateUser with a used request_id a retry rather than a
// reuse of the key.
func (u User) SameProfile(o User) bool {
	return u.Username == o.Username && u.Email == o.Email && u.FirstName == o.FirstName &&
		u.LastName == o.LastName && u.Phone == o.Phone
}

// Patch is a partial update: nil fields are left as they are.
type Patch struct {
	Username, Email, FirstName, LastName, Phone *string
}

// Empty reports whether p changes nothing.
func (p Patch) Empty() bool {
	return p.Username == nil && p.Email == nil && p.FirstName == nil && p.LastName == nil && p.Phone == nil
}

// ErrNotFound is returned for users that do not exist or were deleted.
var ErrNotFound = apperr.NotFound("user not found").WithReason("USER_NOT_FOUND")

// ErrAccountPending is returned by CreateUser with a request_id when the
// user was saved but billing did not open its account.
var ErrAccountPending = apperr.Unavailable("billing is unavailable; the user was saved but its account is not open yet — retry with the same request_id").
	WithReason("ACCOUNT_PENDING")

// ErrAccountPendingNoKey is ErrAccountPending for a CreateUser without a
// request_id: a plain retry would find the username taken, so the client is
// told the account will be opened by the service itself.
var ErrAccountPendingNoKey = apperr.Unavailable("billing is unavailable; the user was saved and its account will be opened automatically — send a request_id to make CreateUser safe to retry").
	WithReason("ACCOUNT_PENDING")

// ErrCloseUnavailable is returned by DeleteUser when billing could not close
// the account; nothing was deleted.
var ErrCloseUnavailable = apperr.Unavailable("billing is unavailable; the user was not deleted — retry later").
	WithReason("BILLING_UNAVAILABLE")

// UsernameTaken reports a username used by another live user.
func UsernameTaken(username string) error {
	return apperr.AlreadyExists("username %q is taken", username).WithReason("USERNAME_TAKEN")
}

// EmailTaken reports an email address used by another live user (compared
// without regard to case).
func EmailTaken(email string) error {
	return apperr.AlreadyExists("email %q is taken", email).WithReason("EMAIL_TAKEN")
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,31}$`)

// CheckUsername accepts 3-32 characters of a-z, 0-9, '.', '_' and '-',
// starting with a letter or digit. Upper case is refused rather than
// lowered, so the name a client sends is the name it gets back.
func CheckUsername(field, s string) error {
	switch {
	case s == "":
		return apperr.Invalid(field, "is required")
	case usernameRE.MatchString(s):
		return nil
	case usernameRE.MatchString(strings.ToLower(s)):
		return apperr.Invalid(field, "must be lower case, got %q (use %q)", s, strings.ToLower(s))
	}
	return apperr.Invalid(field, "must be 3-32 characters of a-z, 0-9, '.', '_' or '-' starting with a letter or digit, got %q", validate.Shorten(s))
}

// CheckName accepts an optional given or family name of up to 100
// characters without control characters.
func CheckName(field, s string) error {
	switch {
	case utf8.RuneCountInString(s) > MaxNameLen:
		return apperr.Invalid(field, "must be at most %d characters", MaxNameLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return apperr.Invalid(field, "must not contain control characters such as line breaks")
	}
	return nil
}

var phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// CheckPhone accepts "" (no phone) or an international number: '+', a
// country code not starting with 0, and 7-15 digits in all (E.164).
func CheckPhone(field, s string) error {
	if s != "" && !phoneRE.MatchString(s) {
		return apperr.Invalid(field, "must be an international number such as +15551234567 (a '+' and 7-15 digits, no spaces), got %q", validate.Shorten(s))
	}
	return nil
}

// Check validates every client-set field of u, naming fields under prefix
// ("user").
func Check(prefix string, u User) error {
	for _, err := range []error{
		CheckUsername(prefix+".username", u.Username),
		validate.Email(prefix+".email", u.Email),
		CheckName(prefix+".first_name", u.FirstName),
		CheckName(prefix+".last_name", u.LastName),
		CheckPhone(prefix+".phone", u.Phone),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// AuthKind says which status an authentication error answers with; the
// gRPC server maps it (UNAUTHENTICATED, RESOURCE_EXHAUSTED).
type AuthKind int

const (
	// AuthUnauthenticated: the credentials are wrong, unknown or used up.
	AuthUnauthenticated AuthKind = iota + 1
	// AuthLocked: too many failed logins; retry after RetryAfter.
	AuthLocked
)

// AuthError is a refused login, refresh or client credentials grant. Its
// message is safe to show: it never names what exactly was wrong, so an
// unknown user and a wrong password cannot be told apart.
type AuthError struct {
	Kind    AuthKind
	Message string
	Reason  string
	// Until is when a locked account accepts logins again.
	Until time.Time
}

func (e *AuthError) Error() string { return e.Message }

// Authentication errors.
var (
	ErrBadCredentials = &AuthError{Kind: AuthUnauthenticated, Message: "invalid username or password", Reason: "INVALID_CREDENTIALS"}
	ErrBadRefresh     = &AuthError{Kind: AuthUnauthenticated, Message: "the refresh token is invalid, expired or revoked; log in again", Reason: "INVALID_REFRESH_TOKEN"}
	ErrBadClient      = &AuthError{Kind: AuthUnauthenticated, Message: "invalid client credentials", Reason: "INVALID_CLIENT"}
)

// ErrAuthNotConfigured answers every AuthService call of a service started
// without signing keys.
var ErrAuthNotConfigured = apperr.FailedPrecondition("signing keys are not configured").WithReason("AUTH_NOT_CONFIGURED")

// LoginLocked reports an account locked after failed logins until until.
func LoginLocked(until time.Time) *AuthError {
	return &AuthError{
		Kind:    AuthLocked,
		Message: "too many failed logins for this account; try again after " + until.UTC().Format(time.RFC3339),
		Reason:  "LOGIN_LOCKED",
		Until:   until,
	}
}

var clientNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// IsClientName reports whether s can name a service client: lower case
// letters, digits and '-', starting with a letter, as service names are.
func IsClientName(s string) bool { return clientNameRE.MatchString(s) }
