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
	// Admin is the account's is_admin flag, read with the login, so the
	// role follows the account and not whoever holds its name.
	Admin bool
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
	// Admin is the user's is_admin flag now: a revoked grant ends with
	// the next refresh.
	Admin bool
	// Reused: the token had been used before, and its family is now
	// revoked.
	Reused bool
}
