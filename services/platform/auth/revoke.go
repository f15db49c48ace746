package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/kassa-dev/kassa/services/platform/retry"
)

// RevocationPath is where the user service serves its revocation list,
// next to the JWKS on its admin listener.
const RevocationPath = "/.well-known/revoked-subjects.json"

// maxRevocationList bounds the document read: it lists only the users
// deleted within one token lifetime, so megabytes mean something is wrong.
const maxRevocationList = 4 << 20

// revocationDoc is the list the user service serves.
type revocationDoc struct {
	Subjects []struct {
		Sub       string    `json:"sub"`
		RevokedAt time.Time `json:"revokedAt"`
	} `json:"subjects"`
	Window string `json:"window"`
}

// revocationList is one issuer's list of revoked subjects, refreshed in
// the background. Until the first fetch succeeds it revokes nobody: a
// verifier that refused everyone while the user service is down would stop
// billing's and order's reads too, and a deleted user cannot move money
// anyway, since deleting the user closes the account.
type revocationList struct {
	url    string
	client *http.Client
	log    *slog.Logger

	mu       sync.RWMutex
	subjects map[string]struct{} // nil until the first good fetch
	failing  bool                // the last fetch failed; logged once per outage
	warned   bool                // the fail-open acceptance was logged
}

func newRevocationList(u string, client *http.Client, log *slog.Logger) *revocationList {
	return &revocationList{url: u, client: client, log: log.With("revocation_url", u)}
}

// run fetches the list now and then every interval until ctx ends.
func (l *revocationList) run(ctx context.Context, interval time.Duration) {
	l.refresh(ctx, interval)
	retry.Every(ctx, interval, func(ctx context.Context) { l.refresh(ctx, interval) })
}

// refresh replaces the list with a freshly fetched one; on any failure the
// last good list stays, so an unreachable user service does not un-revoke
// anyone.
func (l *revocationList) refresh(ctx context.Context, interval time.Duration) {
	// A fetch slower than a few intervals is as good as failed, and the
	// next tick tries again.
	fctx, cancel := context.WithTimeout(ctx, max(5*interval, 5*time.Second))
	defer cancel()
	subjects, err := l.fetch(fctx)
	if ctx.Err() != nil {
		return // Close, not a failure
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if !l.failing {
			l.log.Warn("auth: revocation list fetch failed; keeping the last good list", "err", err,
				"have_list", l.subjects != nil)
		}
		l.failing = true
		return
	}
	if l.failing {
		l.log.Info("auth: revocation list fetched again", "subjects", len(subjects))
	}
	l.failing, l.subjects = false, subjects
}

func (l *revocationList) fetch(ctx context.Context) (map[string]struct{}, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", l.url, resp.Status)
	}
	var doc revocationDoc
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxRevocationList)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("revocation list %s: %w", l.url, err)
	}
	if doc.Subjects == nil {
		// An object without the list is not an empty list: treating it
		// as one would un-revoke everyone on a malformed answer.
		return nil, fmt.Errorf("revocation list %s: no subjects array", l.url)
	}
	subjects := make(map[string]struct{}, len(doc.Subjects))
	for _, s := range doc.Subjects {
		if s.Sub == "" {
			return nil, fmt.Errorf("revocation list %s: an entry without sub", l.url)
		}
		subjects[s.Sub] = struct{}{}
	}
	return subjects, nil
}

// revoked reports whether sub is listed. Before the first good fetch it
// says no (fail open, see revocationList) and logs that once.
func (l *revocationList) revoked(sub string) bool {
	l.mu.RLock()
	subjects := l.subjects
	warned := l.warned
	l.mu.RUnlock()
	if subjects == nil {
		if !warned {
			l.mu.Lock()
			if !l.warned {
				l.warned = true
				l.log.Warn("auth: no revocation list fetched yet; accepting tokens without checking it")
			}
			l.mu.Unlock()
		}
		return false
	}
	_, ok := subjects[sub]
	return ok
}

// defaultRevocationURL is the revocation list next to the JWKS at jwks:
// the same origin, RevocationPath.
func defaultRevocationURL(jwks string) string {
	u, err := url.Parse(jwks)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + RevocationPath
}

// checkRevoked refuses p when its issuer's list names it. Services are
// never listed: a service identity is not a user account and cannot be
// deleted.
func (is *trustedIssuer) checkRevoked(p Principal) error {
	if is.revocations == nil || p.UserID == "" || p.Service != "" {
		return nil
	}
	if is.revocations.revoked(p.UserID) {
		return invalid(ReasonRevoked, fmt.Errorf("sub %s is on the revocation list of %s", p.UserID, is.Issuer.Issuer))
	}
	return nil
}
