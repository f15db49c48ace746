package auth

import (
	"errors"
	"fmt"
)

// Reason says why a token was refused. It is for logs and tests only:
// clients get PublicMessage whatever the reason, so a forger learns nothing
// about which check failed.
type Reason string

// The reasons a token is refused.
const (
	ReasonMissing       Reason = "missing"
	ReasonMalformed     Reason = "malformed"
	ReasonExpired       Reason = "expired"
	ReasonNotYetValid   Reason = "not_yet_valid"
	ReasonWrongIssuer   Reason = "wrong_issuer"
	ReasonWrongAudience Reason = "wrong_audience"
	ReasonBadSignature  Reason = "bad_signature"
	ReasonAlgNone       Reason = "alg_none"
	ReasonAlgSymmetric  Reason = "alg_symmetric"
	ReasonAlgNotAllowed Reason = "alg_not_allowed"
	ReasonNoKeyID       Reason = "no_kid"
	ReasonUnknownKeyID  Reason = "unknown_kid"
	ReasonForeignKeyID  Reason = "kid_of_other_issuer"
	ReasonBadClaims     Reason = "bad_claims"
	// ReasonRevoked is a valid token of a subject on its issuer's
	// revocation list (a user deleted before the token expired).
	ReasonRevoked Reason = "revoked"
)

// PublicMessage is all a client is told about a refused token.
const PublicMessage = "missing or invalid access token"

// InvalidTokenError is a refused token. Error() is the internal detail for
// logs, never for the client.
type InvalidTokenError struct {
	Reason Reason
	Err    error
}

func (e *InvalidTokenError) Error() string {
	if e.Err == nil {
		return "invalid token: " + string(e.Reason)
	}
	return fmt.Sprintf("invalid token: %s: %v", e.Reason, e.Err)
}

func (e *InvalidTokenError) Unwrap() error { return e.Err }

func invalid(r Reason, err error) error { return &InvalidTokenError{Reason: r, Err: err} }

// ReasonOf returns the refusal reason in err's chain, or "" if err is not
// a refused token.
func ReasonOf(err error) Reason {
	var e *InvalidTokenError
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// ErrKeysUnavailable means no key set of the token's issuer could be
// fetched: the token may be fine, the issuer is unreachable, so callers
// answer "retry later" rather than "unauthenticated".
var ErrKeysUnavailable = errors.New("auth: issuer keys unavailable")
