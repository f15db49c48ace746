package app_test

import (
	"testing"

	"github.com/kassa-dev/kassa/services/user/app/peertest"
)

// The in-memory billing of these tests is held to the contract the real
// billing passes (the e2e module runs the same suite against it).
func TestFakeAccounts_KeepsBillingsContract(t *testing.T) {
	peertest.RunAccounts(t, func(*testing.T) peertest.Billing {
		f := &fakeAccounts{open: make(map[string]string)}
		return peertest.Billing{Accounts: f, Account: f.account}
	})
}

// account is the contract's window on the fake's accounts.
func (f *fakeAccounts) account(_ *testing.T, userID string) (peertest.Account, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.open[userID]; ok {
		return peertest.Account{Currency: c}, true
	}
	if c, ok := f.closed[userID]; ok {
		return peertest.Account{Currency: c, Closed: true}, true
	}
	return peertest.Account{}, false
}
