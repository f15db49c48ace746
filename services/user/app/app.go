// Package app holds the user service's use cases: validation, the
// create-then-open-account flow, idempotency and soft deletion. It reaches
// billing through the Accounts interface and the database through Store,
// and knows nothing about SQL or protobuf.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/password"
)

// Accounts is what the user service needs from billing.
type Accounts interface {
	// Open opens userID's account in currency ("" = billing's default). It
	// is idempotent per user: opening an existing account succeeds and
	// leaves it as it is.
	Open(ctx context.Context, userID, currency string) error
	// Close closes userID's account, keeping its balance and ledger. It is
	// idempotent and succeeds when the user has no account.
	Close(ctx context.Context, userID string) error
}

// Store is the persistence the use cases need (postgres.Store).
type Store interface {
	CreatePending(ctx context.Context, u user.User, requestID string) (u2 user.User, created bool, err error)
	MarkAccountReady(ctx context.Context, id string) (user.User, error)
	Get(ctx context.Context, id string) (user.User, error)
	List(ctx context.Context, after paging.Cursor, limit int) ([]user.User, error)
	ListPending(ctx context.Context, minAge time.Duration, limit int) ([]user.Pending, error)
	RecordRepairFailure(ctx context.Context, id string, attempts int, delay time.Duration, park bool, lastErr string) (bool, error)
	CountParked(ctx context.Context) (int, error)
	ListParked(ctx context.Context, after paging.Cursor, limit int) ([]user.Parked, error)
	ReleaseParked(ctx context.Context, ids []string) (int, error)
	Update(ctx context.Context, id string, p user.Patch) (user.User, error)
	SoftDelete(ctx context.Context, id string) (user.User, error)
}

// Config tunes the service. The zero value of every field is usable and
// means what its comment says.
type Config struct {
	// Currency of new users' billing accounts; "" lets billing choose.
	Currency string
	// RepairMinAge: the repair pass leaves pending users younger than this
	// alone, as their CreateUser call is most likely still opening their
	// account. 0 spares no user, for tests.
	RepairMinAge time.Duration
	// RepairBatch bounds the users one repair pass handles; 0 means
	// DefaultRepairBatch.
	RepairBatch int
	// Retry schedules the repair loop's attempts at a user and parks it
	// after the last; the zero value means retry.Default.
	Retry retry.Policy
	// Log receives billing failures, which clients only see as UNAVAILABLE;
	// nil logs nothing.
	Log *slog.Logger
	// Metrics counts registrations; nil counts in unregistered metrics.
	Metrics *Metrics
}

// DefaultRepairBatch is the batch of a repair pass when Config.RepairBatch
// is 0.
const DefaultRepairBatch = 100

// Service implements the user use cases.
type Service struct {
	store    Store
	accounts Accounts
	cfg      Config
	log      *slog.Logger
}

// New returns a Service over store and billing's accounts. It fails when
// the currency is not an ISO 4217 code or the retry policy is unusable.
func New(store Store, accounts Accounts, cfg Config) (*Service, error) {
	if err := validate.Currency("default-currency", cfg.Currency); err != nil {
		return nil, err
	}
	if cfg.RepairBatch <= 0 {
		cfg.RepairBatch = DefaultRepairBatch
	}
	if cfg.Retry == (retry.Policy{}) {
		cfg.Retry = retry.Default
	}
	if err := cfg.Retry.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Service{store: store, accounts: accounts, cfg: cfg, log: log}, nil
}

// Page is one page of users, oldest first.
type Page struct {
	Users []user.User
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// Create saves a user and opens its billing account, in that order, so a
// user is never without an account for long and never has two:
//
//  1. the user is inserted with account_ready = false (or, for a used
//     request_id, the first call's user is taken);
//  2. billing opens the account (idempotent per user);
//  3. account_ready is set.
//
// If step 2 fails the user stays pending and the call fails UNAVAILABLE; a
// retry with the same request_id, or the repair loop, redoes steps 2-3.
//
// pw is the plaintext password, required (a user must be able to log in,
// and registration is the only way to set it): only its hash is stored,
// and it appears in no error or log. Users from before passwords existed
// have no hash and cannot log in. A retry with a used request_id returns
// the first user and keeps the first password.
func (s *Service) Create(ctx context.Context, in user.User, pw, requestID string) (user.User, error) {
	if err := user.Check("user", in); err != nil {
		return user.User{}, err
	}
	if err := password.Check("user.password", pw); err != nil {
		return user.User{}, err
	}
	if err := validate.RequestID("request_id", requestID, false); err != nil {
		return user.User{}, err
	}
	h, err := password.Hash(pw)
	if err != nil {
		return user.User{}, err
	}
	in.PasswordHash = h
	u, created, err := s.store.CreatePending(ctx, in, requestID)
	if err != nil {
		return user.User{}, err
	}
	if !created {
		if !u.SameProfile(in) {
			return user.User{}, apperr.RequestIDReused(requestID)
		}
		if u.Deleted() {
			return user.User{}, fmt.Errorf("%w: user %s created with request_id %q has been deleted", user.ErrNotFound, u.ID, requestID)
		}
		s.cfg.Metrics.replays.Inc()
	} else {
		s.cfg.Metrics.created.Inc()
	}
	if u.AccountReady {
		return u, nil
	}
	ready, err := s.finish(ctx, u)
	if errors.Is(err, errOpen) {
		if requestID == "" {
			return user.User{}, user.ErrAccountPendingNoKey
		}
		return user.User{}, user.ErrAccountPending
	}
	return ready, err
}

// errOpen marks a failed Open inside finish; it wraps the cause, which has
// been logged.
var errOpen = errors.New("billing account not opened")

// finish opens u's account and marks u ready. When u was deleted while its
// account was being opened, the account is closed again so a deleted user
// can never be charged.
func (s *Service) finish(ctx context.Context, u user.User) (user.User, error) {
	if err := s.accounts.Open(ctx, u.ID, s.cfg.Currency); err != nil {
		s.log.WarnContext(ctx, "opening billing account failed; user stays pending", "user_id", u.ID, "error", err)
		return user.User{}, fmt.Errorf("%w: %w", errOpen, err)
	}
	ready, err := s.store.MarkAccountReady(ctx, u.ID)
	if errors.Is(err, user.ErrNotFound) {
		if cerr := s.accounts.Close(ctx, u.ID); cerr != nil {
			s.log.ErrorContext(ctx, "user deleted while its account was opened, and closing it failed", "user_id", u.ID, "error", cerr)
		}
	}
	return ready, err
}

// Get returns a live user. Pending users (account not confirmed yet) are
// returned too: they exist, and their account is on its way.
func (s *Service) Get(ctx context.Context, id string) (user.User, error) {
	id, err := validate.ID("id", id)
	if err != nil {
		return user.User{}, err
	}
	return s.store.Get(ctx, id)
}

// List returns a page of live users, oldest first.
func (s *Service) List(ctx context.Context, pageSize int32, pageToken string) (Page, error) {
	req, err := paging.Parse(pageSize, pageToken)
	if err != nil {
		return Page{}, err
	}
	users, err := s.store.List(ctx, req.After, req.Limit())
	if err != nil {
		return Page{}, err
	}
	users, next := paging.Cut(req, users, func(u user.User) paging.Cursor {
		return paging.Cursor{Time: u.CreateTime, ID: u.ID}
	})
	return Page{Users: users, NextPageToken: next}, nil
}

// Delete soft-deletes a live user after closing its billing account. The
// account is closed first so that a billing outage leaves a live user with
// an open account (consistent, retryable) rather than a deleted user that
// can still be charged.
func (s *Service) Delete(ctx context.Context, id string) (user.User, error) {
	id, err := validate.ID("id", id)
	if err != nil {
		return user.User{}, err
	}
	u, err := s.store.Get(ctx, id)
	if err != nil {
		return user.User{}, err
	}
	if err := s.accounts.Close(ctx, id); err != nil {
		s.log.WarnContext(ctx, "closing billing account failed; user not deleted", "user_id", id, "error", err)
		return user.User{}, user.ErrCloseUnavailable
	}
	deleted, err := s.store.SoftDelete(ctx, id)
	if err != nil {
		return user.User{}, err
	}
	if !u.AccountReady {
		// A pending user may have had its account opened by the repair loop
		// between the Close above and the delete. Closing once more after
		// the delete covers that: any later opener sees the user deleted in
		// finish and closes the account itself.
		if err := s.accounts.Close(ctx, id); err != nil {
			s.log.ErrorContext(ctx, "second close of a deleted pending user's account failed", "user_id", id, "error", err)
		}
	}
	return deleted, nil
}
