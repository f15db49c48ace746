package auth

import (
	"context"
	"crypto/sha256"
	"slices"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Every call between kassa's services carries the caller's service token,
// the same one for minutes, and a customer sends the same access token
// with every request of a session. Parsing and checking that token again
// on each call was about a quarter of each service's CPU at the
// benchmark's peak (five checks per order, one in each process), so a
// token that verified is remembered until it expires.
//
// A remembered token is accepted again only while everything the full
// check relied on still holds:
//   - it has not expired (exp, without the leeway: a token inside the
//     leeway takes the full check, which allows it);
//   - its issuer's key set is the very set it was verified against, read
//     at most keySetAge ago: a refresh (scheduled, or caused by an unknown
//     kid) replaces the set, and each remembered token of that issuer is
//     checked in full once more, so a removed key fails as before;
//   - the revocation list does not name its user, asked on every call.
//
// Refusals are never remembered: a forged or expired token costs the full
// check every time, and only tokens with a valid signature take room.
// Entries are keyed by the token's SHA-256, so memory is bounded by the
// entry count, not by token sizes.
const (
	maxVerified = 4096
	keySetAge   = time.Second
)

type verifiedToken struct {
	p   Principal
	is  *trustedIssuer
	set jwk.Set // the key set the signature was checked against
	exp time.Time
}

type verifiedTokens struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedToken
}

// keySet is an issuer's current key set as this verifier last read it.
type keySet struct {
	set jwk.Set
	at  time.Time
}

// lookup returns the principal of a remembered token that still holds,
// and ok; a stale entry is dropped.
func (v *Verifier) lookup(ctx context.Context, sum [sha256.Size]byte, now time.Time) (Principal, bool, error) {
	v.verified.mu.Lock()
	e, ok := v.verified.entries[sum]
	v.verified.mu.Unlock()
	if !ok {
		return Principal{}, false, nil
	}
	if !now.Before(e.exp) || v.currentSet(ctx, e.is, now) != e.set {
		v.verified.mu.Lock()
		delete(v.verified.entries, sum)
		v.verified.mu.Unlock()
		return Principal{}, false, nil
	}
	if err := e.is.checkRevoked(e.p); err != nil {
		return Principal{}, false, err
	}
	p := e.p
	p.Roles = slices.Clone(p.Roles) // the caller's to keep
	return p, true, nil
}

// remember keeps a token that passed the full check against set.
func (v *Verifier) remember(sum [sha256.Size]byte, e verifiedToken, now time.Time) {
	if e.set == nil || !now.Before(e.exp) {
		return
	}
	e.p.Roles = slices.Clone(e.p.Roles)
	v.verified.mu.Lock()
	defer v.verified.mu.Unlock()
	if v.verified.entries == nil {
		v.verified.entries = make(map[[sha256.Size]byte]verifiedToken)
	}
	if len(v.verified.entries) >= maxVerified {
		for k, old := range v.verified.entries {
			if !now.Before(old.exp) {
				delete(v.verified.entries, k)
			}
		}
		// Still full of live tokens: drop a quarter, chosen by the map's
		// random order; they are verified in full again when next seen.
		for k := range v.verified.entries {
			if len(v.verified.entries) < maxVerified*3/4 {
				break
			}
			delete(v.verified.entries, k)
		}
	}
	v.verified.entries[sum] = e
}

// currentSet is the issuer's key set, read from the key cache at most
// every keySetAge.
func (v *Verifier) currentSet(ctx context.Context, is *trustedIssuer, now time.Time) jwk.Set {
	if s := is.keys.Load(); s != nil && now.Sub(s.at) < keySetAge {
		return s.set
	}
	set, _ := v.cache.Lookup(ctx, is.JWKSURL)
	if set != nil { // not fetched yet: asked again next time
		is.keys.Store(&keySet{set: set, at: now})
	}
	return set
}
