package main

import "context"

// hotAccount searches the REST peak with every order on one account (the
// hot crowd): each debit takes the account's row lock and holds it until
// its commit, so the orders of one account run one after another however
// many clients send them.
func (b *bench) hotAccount(ctx context.Context) error {
	// From below the limit the row lock sets (a commit or two per
	// order), well under the many-accounts peak.
	start := 100.0
	if b.res.REST != nil && b.res.REST.Best != nil {
		start = min(start, b.res.REST.Best.Result.Achieved/2)
	}
	p, err := b.searchPeak(ctx, b.rest, b.hot, start)
	if err != nil {
		return err
	}
	b.res.HotAccount = p
	return nil
}

// hotSmoke sends the smoke's few seconds to the one hot account.
func (b *bench) hotSmoke(ctx context.Context) error {
	rec, err := b.step(ctx, b.rest, b.hot, "hot", b.cfg.smokeRate, b.cfg.warmup, b.cfg.step)
	if err != nil {
		return err
	}
	b.stepLine(rec, "")
	b.res.HotAccount = &peakResult{Steps: []*stepRecord{rec}}
	return nil
}
