package auth

import (
	"slices"
	"strings"
)

// Rule is what a method requires of its caller. The zero Rule admits no
// one, so a forgotten rule fails closed.
type Rule struct {
	public   bool
	customer bool
	admin    bool
	services []string
	anyOf    []Rule
}

var (
	// Public admits every caller, with or without a token (health,
	// reflection, login, registration).
	Public = Rule{public: true}
	// Customer admits any verified customer (admins included); the handler
	// checks ownership with Owner.
	Customer = Rule{customer: true}
	// Admin admits users with the admin role.
	Admin = Rule{admin: true}
)

// Services admits the named service identities only.
func Services(names ...string) Rule { return Rule{services: slices.Clone(names)} }

// AnyOf admits a caller any of rules admits, e.g.
// AnyOf(Customer, Services("order")).
func AnyOf(rules ...Rule) Rule { return Rule{anyOf: slices.Clone(rules)} }

// IsPublic reports whether the rule needs no token at all.
func (r Rule) IsPublic() bool {
	return r.public || slices.ContainsFunc(r.anyOf, Rule.IsPublic)
}

// Allows reports whether p satisfies the rule.
func (r Rule) Allows(p Principal) bool {
	switch {
	case r.public:
		return true
	case r.customer && p.IsCustomer():
		return true
	case r.admin && p.IsAdmin():
		return true
	case len(r.services) > 0 && p.IsService(r.services...):
		return true
	}
	for _, sub := range r.anyOf {
		if sub.Allows(p) {
			return true
		}
	}
	return false
}

// String describes the rule for logs and test failures.
func (r Rule) String() string {
	var parts []string
	if r.public {
		parts = append(parts, "public")
	}
	if r.customer {
		parts = append(parts, "customer")
	}
	if r.admin {
		parts = append(parts, "admin")
	}
	if len(r.services) > 0 {
		parts = append(parts, "services("+strings.Join(r.services, ",")+")")
	}
	for _, sub := range r.anyOf {
		parts = append(parts, sub.String())
	}
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, "|")
}
