package app

import (
	"context"
	"errors"
	"time"

	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/kassa-dev/kassa/services/user"
)

// RepairReport counts what one repair pass did.
type RepairReport struct {
	Finished int // users whose account is now open and confirmed
	Failed   int // users still pending (billing still does not open the account)
	Parked   int // of Failed, those that reached the attempt cap
}

// Repair finishes up to Config.RepairBatch due users whose account was
// never confirmed (their CreateUser failed at billing and was not
// retried): it opens each account and marks the user ready. A user
// deleted while its account was opened is in no count (finish closed the
// account again).
//
// A failure is recorded on the user: one more attempt, and the next one
// after the retry policy's backoff, or the user is parked once the policy
// says so. Since the pass takes users by their next attempt, users that
// keep failing move behind the others, so however many of them there are
// a newer user is reached within a pass or two. The parked-items gauge is
// refreshed from the database at the end of every pass, so it is right
// after restarts and whichever replica parked or released the users.
//
// Several replicas may repair the same user at once; that is safe because
// opening an account is idempotent per user, and the failure is counted
// once (see postgres.Store.RecordRepairFailure). RunRepair calls it
// periodically.
func (s *Service) Repair(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	pending, err := s.store.ListPending(ctx, s.cfg.RepairMinAge, s.cfg.RepairBatch)
	if err != nil {
		return rep, err
	}
	for _, p := range pending {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		_, err := s.finish(ctx, p.User)
		switch {
		case err == nil:
			rep.Finished++
			s.cfg.Metrics.repaired.Inc()
		case errors.Is(err, user.ErrNotFound):
			// Deleted while its account was opened; finish closed it again.
		case ctx.Err() != nil:
			// Stopping: the attempt did not fail on its own, so it is not
			// counted against the user.
			return rep, ctx.Err()
		default:
			rep.Failed++
			if s.recordFailure(ctx, p, err) {
				rep.Parked++
			}
		}
	}
	return rep, s.refreshParked(ctx)
}

// recordFailure schedules p's next attempt or parks it, and reports
// whether it parked it. A failure to record is only logged: the user stays
// due and the next pass tries again.
func (s *Service) recordFailure(ctx context.Context, p user.Pending, cause error) (parked bool) {
	attempts := p.Attempts + 1
	now := time.Now()
	next, park := s.cfg.Retry.After(now, attempts)
	delay := time.Duration(0)
	if !park {
		delay = next.Sub(now)
	}
	recorded, err := s.store.RecordRepairFailure(ctx, p.ID, p.Attempts, delay, park, cause.Error())
	switch {
	case err != nil:
		s.log.ErrorContext(ctx, "recording a failed repair attempt failed", "user_id", p.ID, "error", err)
	case recorded && park:
		s.cfg.Metrics.parked.Inc()
		s.log.ErrorContext(ctx, "user parked: its billing account could not be opened; release it with UserAdminService.RetryParked",
			"user_id", p.ID, "attempts", attempts, "error", cause)
		return true
	}
	return false
}

func (s *Service) refreshParked(ctx context.Context) error {
	n, err := s.store.CountParked(ctx)
	if err != nil {
		return err
	}
	s.cfg.Metrics.parkedItems.Set(float64(n))
	return nil
}

// RunRepair runs a repair pass every interval until ctx is done. Run it
// with boot.Deps.Go.
func (s *Service) RunRepair(ctx context.Context, interval time.Duration) {
	retry.Every(ctx, interval, func(ctx context.Context) {
		rep, err := s.Repair(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.ErrorContext(ctx, "repair of pending users failed", "error", err)
		case rep.Finished > 0:
			s.log.InfoContext(ctx, "opened billing accounts of pending users", "count", rep.Finished)
		}
	})
}
