package app

import (
	"context"
	"fmt"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"github.com/kassa-dev/kassa/services/user"
)

// MaxRelease bounds the ids one RetryParked call names, like a page.
const MaxRelease = 1000

// ParkedPage is one page of parked users, the most recently parked first.
type ParkedPage struct {
	Users []user.Parked
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// ListParked returns a page of the users the repair loop gave up on.
func (s *Service) ListParked(ctx context.Context, pageSize int32, pageToken string) (ParkedPage, error) {
	req, err := paging.Parse(pageSize, pageToken)
	if err != nil {
		return ParkedPage{}, err
	}
	users, err := s.store.ListParked(ctx, req.After, req.Limit())
	if err != nil {
		return ParkedPage{}, err
	}
	users, next := paging.Cut(req, users, func(p user.Parked) paging.Cursor {
		return paging.Cursor{Time: p.ParkTime, ID: p.UserID}
	})
	return ParkedPage{Users: users, NextPageToken: next}, nil
}

// RetryParked releases the parked users ids, or every parked user when ids
// is empty: their attempts start again from zero and the next repair pass
// takes them. Ids of users that are not parked are skipped; it returns how
// many were released.
func (s *Service) RetryParked(ctx context.Context, ids []string) (int, error) {
	if len(ids) > MaxRelease {
		return 0, apperr.Invalid("user_ids", "names %d users; at most %d per call", len(ids), MaxRelease)
	}
	canon := make([]string, len(ids))
	for i, id := range ids {
		var err error
		if canon[i], err = validate.ID(fmt.Sprintf("user_ids[%d]", i), id); err != nil {
			return 0, err
		}
	}
	n, err := s.store.ReleaseParked(ctx, canon)
	if err != nil {
		return 0, err
	}
	// The gauge follows at once rather than at the next pass, so an
	// operator who released everything sees the alert's series drop.
	if err := s.refreshParked(ctx); err != nil {
		s.log.WarnContext(ctx, "counting parked users after a release failed", "error", err)
	}
	s.log.InfoContext(ctx, "parked users released", "count", n)
	return n, nil
}
