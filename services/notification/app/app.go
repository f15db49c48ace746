// Package app holds the notification service's use cases: it validates
// requests, applies the idempotency rules and pages lists. It knows nothing
// about SQL or protobuf.
package app

import (
	"context"
	"log/slog"

	"github.com/kassa-dev/kassa/services/notification"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// Store is the persistence the use cases need (postgres.Store).
type Store interface {
	Send(ctx context.Context, n notification.Notification) (stored notification.Notification, created bool, err error)
	Get(ctx context.Context, userID, id string) (notification.Notification, error)
	List(ctx context.Context, userID string, after paging.Cursor, limit int) ([]notification.Notification, error)
}

// Accounts is the billing service, asked whether a user exists.
type Accounts interface {
	// HasAccount reports whether billing has an account for userID, open
	// or closed: every user ever created has one (deleting a user closes
	// it), so false means the user never existed. err is set when billing
	// did not answer.
	HasAccount(ctx context.Context, userID string) (bool, error)
}

// Config tunes the service. The zero value of every field is usable and
// means what its comment says.
type Config struct {
	// Log receives what the peers failed to answer; nil logs nothing.
	Log *slog.Logger
	// Metrics counts letters; nil counts in unregistered metrics.
	Metrics *Metrics
}

// Service implements the notification use cases.
type Service struct {
	store    Store
	accounts Accounts
	cfg      Config
	log      *slog.Logger
}

// New returns a Service over store that asks accounts whether a user
// exists.
func New(store Store, accounts Accounts, cfg Config) *Service {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Service{store: store, accounts: accounts, cfg: cfg, log: log}
}

// Page is one page of a user's letters, newest first.
type Page struct {
	Notifications []notification.Notification
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// Send stores the letter n (UserID, Email, Subject, Body, optional OrderID
// and RequestID). The user is not checked to exist: this service has no
// user peer, and its callers (order and user flows) already hold a user
// they have just read from the user service.
func (s *Service) Send(ctx context.Context, n notification.Notification) (notification.Notification, error) {
	n, err := checkLetter(n)
	if err != nil {
		return notification.Notification{}, err
	}
	stored, created, err := s.store.Send(ctx, n)
	if err != nil {
		return notification.Notification{}, err
	}
	if !created && !stored.SameLetter(n) {
		return notification.Notification{}, apperr.RequestIDReused(n.RequestID)
	}
	if created {
		s.cfg.Metrics.stored.WithLabelValues(letterKind(stored.OrderID)).Inc()
	} else {
		s.cfg.Metrics.replays.Inc()
	}
	return stored, nil
}

func checkLetter(n notification.Notification) (notification.Notification, error) {
	var err error
	if n.UserID, err = validate.ID("user_id", n.UserID); err != nil {
		return n, err
	}
	if err := validate.Email("notification.email", n.Email); err != nil {
		return n, err
	}
	if err := notification.CheckSubject("notification.subject", n.Subject); err != nil {
		return n, err
	}
	if err := notification.CheckBody("notification.body", n.Body); err != nil {
		return n, err
	}
	if n.OrderID, err = validate.OptionalID("notification.order_id", n.OrderID); err != nil {
		return n, err
	}
	if err := validate.RequestID("request_id", n.RequestID, false); err != nil {
		return n, err
	}
	return n, nil
}

// Get returns the letter id of userID; another user's letter is NOT_FOUND.
func (s *Service) Get(ctx context.Context, userID, id string) (notification.Notification, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return notification.Notification{}, err
	}
	if id, err = validate.ID("id", id); err != nil {
		return notification.Notification{}, err
	}
	return s.store.Get(ctx, userID, id)
}

// List returns a page of userID's letters, newest first. An empty page for
// a user that never existed is USER_NOT_FOUND, as billing's ledger of such
// a user is, while a deleted user's letters stay listed. Only an empty page
// of a caller other than the user itself (byOwner: a verified token of
// that user) needs billing's word, so an owner's mailbox never waits for
// billing. If billing does not answer, the answer is UNAVAILABLE.
func (s *Service) List(ctx context.Context, userID string, pageSize int32, pageToken string, byOwner bool) (Page, error) {
	userID, err := validate.ID("user_id", userID)
	if err != nil {
		return Page{}, err
	}
	req, err := paging.Parse(pageSize, pageToken)
	if err != nil {
		return Page{}, err
	}
	items, err := s.store.List(ctx, userID, req.After, req.Limit())
	if err != nil {
		return Page{}, err
	}
	if len(items) == 0 && !byOwner {
		exists, err := s.accounts.HasAccount(ctx, userID)
		if err != nil {
			s.log.WarnContext(ctx, "billing did not say whether the user exists", "user_id", userID, "error", err)
			return Page{}, apperr.Unavailable("billing did not answer whether user %s exists; retry later", userID)
		}
		if !exists {
			return Page{}, notification.ErrUserNotFound(userID)
		}
	}
	items, next := paging.Cut(req, items, func(n notification.Notification) paging.Cursor {
		return paging.Cursor{Time: n.CreateTime, ID: n.ID}
	})
	return Page{Notifications: items, NextPageToken: next}, nil
}
