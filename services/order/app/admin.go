package app

import (
	"context"

	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// ParkedPage is one page of parked items, the most recently parked first.
type ParkedPage struct {
	Items []order.ParkedItem
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// ListParked returns a page of the steps the background loops gave up on.
func (s *Service) ListParked(ctx context.Context, pageSize int32, pageToken string) (ParkedPage, error) {
	req, err := paging.Parse(pageSize, pageToken)
	if err != nil {
		return ParkedPage{}, err
	}
	items, err := s.store.ListParked(ctx, req.After, req.Limit())
	if err != nil {
		return ParkedPage{}, err
	}
	items, next := paging.Cut(req, items, func(p order.ParkedItem) paging.Cursor {
		return paging.Cursor{Time: p.ParkTime, ID: p.OrderID}
	})
	return ParkedPage{Items: items, NextPageToken: next}, nil
}

// RetryParked releases the parked items of orderIDs (every parked item
// when empty) with a fresh attempt count, due at once, and returns how
// many it released.
func (s *Service) RetryParked(ctx context.Context, orderIDs []string) (int, error) {
	ids := make([]string, len(orderIDs))
	for i, id := range orderIDs {
		var err error
		if ids[i], err = validate.ID("order_ids", id); err != nil {
			return 0, err
		}
	}
	n, err := s.store.RetryParked(ctx, ids)
	if err != nil {
		return 0, err
	}
	s.refreshParked(ctx)
	s.log.InfoContext(ctx, "parked items released", "released", n, "order_ids", ids)
	return n, nil
}
