package auth

import (
	"context"
	"slices"
)

// Role names carried in the "roles" claim.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
	RoleService  = "service"
)

// Principal is the verified identity behind a call. Exactly one of UserID
// (a customer, possibly also an admin) and Service (another kassa service,
// by its client id) is set.
type Principal struct {
	UserID  string
	Service string
	Roles   []string
}

// HasRole reports whether the principal carries role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// IsCustomer reports whether p is a user with the customer role (admins
// are customers too).
func (p Principal) IsCustomer() bool { return p.UserID != "" && p.HasRole(RoleCustomer) }

// IsAdmin reports whether p is a user with the admin role.
func (p Principal) IsAdmin() bool { return p.UserID != "" && p.HasRole(RoleAdmin) }

// IsService reports whether p is a service identity, and when names are
// given, one of those services.
func (p Principal) IsService(names ...string) bool {
	if p.Service == "" || !p.HasRole(RoleService) {
		return false
	}
	return len(names) == 0 || slices.Contains(names, p.Service)
}

// String names the principal for logs ("user:<id>", "service:<name>").
func (p Principal) String() string {
	switch {
	case p.Service != "":
		return "service:" + p.Service
	case p.UserID != "":
		return "user:" + p.UserID
	}
	return "anonymous"
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p. The interceptor calls it after
// verifying a token; tests call it to run handlers as someone.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of the call, if one was verified.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Owner is the resource-level check a handler makes after the method's
// rule let the caller in: nil when the caller is the customer userID, an
// admin, or a service (the rule already named which services may call);
// notFound otherwise, so another customer's resource looks exactly like a
// missing one. A call without a principal gets notFound as well: a handler
// reached without verification must not serve anyone's data.
func Owner(ctx context.Context, userID string, notFound error) error {
	p, ok := FromContext(ctx)
	switch {
	case !ok:
		return notFound
	case p.IsService(), p.IsAdmin():
		return nil
	case p.IsCustomer() && p.UserID == userID && userID != "":
		return nil
	}
	return notFound
}
