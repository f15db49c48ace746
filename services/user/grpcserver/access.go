package grpcserver

import (
	"context"
	"errors"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/app"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The interceptor has checked the token and the method's rule (Rules); the
// handlers add what only this service can check: whose record it is, and
// that the token's user still exists.

// errCallerGone refuses a token whose user has been deleted (or is unknown
// here): the signature is fine, the identity is not. It answers exactly as
// an invalid token does, so the gateway sends 401 with
// error="invalid_token" and the client logs in again (and fails).
func errCallerGone() error {
	st := status.New(codes.Unauthenticated, auth.PublicMessage)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: auth.ReasonInvalidToken, Domain: apperr.Domain}); err == nil {
		st = d
	}
	return st.Err()
}

var errNoPrincipal = status.Error(codes.PermissionDenied, "permission denied")

// liveCaller returns the verified caller, refusing a user token whose user
// is no longer live. Access tokens live for minutes and cannot be recalled,
// so a deleted user's token still verifies; this look-up is what makes it
// useless on the user service at once. Service identities have no row.
func liveCaller(ctx context.Context, a *app.Service) (auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		// Only reachable on a server without the access checks: serve
		// no one rather than everyone.
		return p, errNoPrincipal
	}
	if p.UserID == "" {
		return p, nil
	}
	if _, err := a.Get(ctx, p.UserID); err != nil {
		if errors.Is(err, user.ErrNotFound) || apperr.KindOf(err) == apperr.KindInvalid {
			return p, errCallerGone()
		}
		return p, err
	}
	return p, nil
}

// authorize admits a live caller to the record of user id (named by field
// in errors): that user, an admin, or a service the method's rule let in.
// Another customer gets the record's own NOT_FOUND, so another user's
// record is indistinguishable from a missing one. A malformed id is
// INVALID_ARGUMENT (that reveals nothing), and the comparison is made on
// the canonical id, as the store would.
func authorize(ctx context.Context, a *app.Service, field, id string) error {
	if _, err := liveCaller(ctx, a); err != nil {
		return err
	}
	canonical, err := validate.ID(field, id)
	if err != nil {
		return err
	}
	return auth.Owner(ctx, canonical, user.ErrNotFound)
}

// authorizeAdmin admits a live admin. The rule already asked for the role;
// this repeats it so the handler does not depend on the table alone, and
// adds the look-up.
func authorizeAdmin(ctx context.Context, a *app.Service) error {
	p, err := liveCaller(ctx, a)
	if err != nil {
		return err
	}
	if !p.IsAdmin() {
		return errNoPrincipal
	}
	return nil
}
