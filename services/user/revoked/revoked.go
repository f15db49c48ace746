// Package revoked serves the revocation list of customer access tokens:
// the users deleted recently enough that a token issued to them may still
// be unexpired. Every verifier of kassa tokens polls it and refuses the
// listed subjects, so a deleted user is locked out of every service at
// once instead of when the token expires.
package revoked

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/kassa-dev/kassa/services/user"
)

// Path is where the list is mounted on the admin listener, next to the JWKS.
const Path = "/.well-known/revoked-subjects.json"

// Slack is added to the access-token TTL to make the window: it covers a
// token signed just before the deletion committed and clock skew between
// the verifiers and the database.
const Slack = time.Minute

// Window is how far back the list reaches for an access-token TTL. A user
// deleted longer ago cannot hold a live token: tokens expire, and a deleted
// user can neither log in nor refresh.
func Window(accessTTL time.Duration) time.Duration { return accessTTL + Slack }

// Lister reads the users deleted within a window (postgres.Store).
type Lister interface {
	DeletedWithin(ctx context.Context, window time.Duration) ([]user.Deletion, error)
}

// Subject is one revoked token subject.
type Subject struct {
	Sub       string    `json:"sub"`
	RevokedAt time.Time `json:"revokedAt"`
}

// List is the served document.
type List struct {
	Subjects []Subject `json:"subjects"`
	Window   string    `json:"window"`
}

// Handler serves the list, read from the store on every request: it is a
// short index range, and a cached copy would delay a revocation by its age.
// max-age=1 lets a proxy absorb a burst without delaying it noticeably.
func Handler(l Lister, window time.Duration, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ds, err := l.DeletedWithin(r.Context(), window)
		if err != nil {
			// The verifiers keep their last good list on a failed fetch,
			// so an error is safer than an empty list, which would
			// un-revoke everyone.
			log.ErrorContext(r.Context(), "revocation list", "err", err)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "revocation list unavailable", http.StatusServiceUnavailable)
			return
		}
		doc := List{Subjects: make([]Subject, len(ds)), Window: window.String()}
		for i, d := range ds {
			doc.Subjects[i] = Subject{Sub: d.UserID, RevokedAt: d.Time.UTC()}
		}
		b, err := json.Marshal(doc)
		if err != nil {
			log.ErrorContext(r.Context(), "revocation list", "err", err)
			http.Error(w, "revocation list unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=1")
		_, _ = w.Write(b)
	})
}
