package user

import "time"

// LockPolicy is the brute-force rule: after MaxFailures failed logins in a
// row, each further failure locks the account for Base, doubling with
// every failure, at most Max.
type LockPolicy struct {
	MaxFailures int
	Base, Max   time.Duration
}

// LoginAttempt is what AttemptLogin found and did.
type LoginAttempt struct {
	// Found is false for an unknown or deleted login name.
	Found    bool
	UserID   string
	Username string
	// HasPassword is false for users created without one.
	HasPassword bool
	// LockedUntil is set when the attempt was refused unchecked because
	// the account is locked.
	LockedUntil time.Time
	// OK is true when the password matched and a session was started.
	OK bool
}

// Session is a new refresh token to store.
type Session struct {
	TokenHash []byte
	Expire    time.Time
}

// Rotation is the outcome of Rotate.
type Rotation struct {
	// OK: the token was valid and next replaces it.
	OK       bool
	UserID   string
	Username string
	// Reused: the token had been used before, and its family is now
	// revoked.
	Reused bool
}
