// Package peertest is the contract of the notification service's peer,
// billing, written down as the use cases rely on it (app.Accounts). The
// same suite runs against the fake billing of the notification tests
// (through the peers adapter) and against the real billing service (from
// the e2e module, which may import every service), so the fake cannot keep
// a rule billing no longer keeps, or miss one it gained.
package peertest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/notification/app"
)

// Billing is a billing service under test: the peer the use cases call and
// hooks to arrange its accounts, which are not part of the contract.
type Billing struct {
	app.Accounts
	// Open opens an account for userID, as registering the user does.
	Open func(t *testing.T, userID string)
	// Close closes userID's account, as deleting the user does.
	Close func(t *testing.T, userID string)
}

// RunAccounts checks what the use cases need of billing: an account exists
// for every user ever created, open or closed, and for nobody else, so an
// empty mailbox of a deleted user is listed while one of a user that never
// existed is USER_NOT_FOUND.
func RunAccounts(t *testing.T, newBilling func(t *testing.T) Billing) {
	for _, tt := range []struct {
		name    string
		arrange func(t *testing.T, b Billing, user string)
		want    bool
	}{
		{"Open_Exists", func(t *testing.T, b Billing, user string) { b.Open(t, user) }, true},
		{"Closed_Exists", func(t *testing.T, b Billing, user string) {
			b.Open(t, user)
			b.Close(t, user)
		}, true},
		{"NeverOpened_DoesNotExist", func(*testing.T, Billing, string) {}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, user := newBilling(t), uuid.NewString()
			tt.arrange(t, b, user)
			if got, err := b.HasAccount(context.Background(), user); err != nil || got != tt.want {
				t.Fatalf("HasAccount = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
