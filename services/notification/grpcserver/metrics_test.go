package grpcserver_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	"github.com/kassa-dev/kassa/services/notification/app"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// Stored letters are counted once each, by kind; a retry is a replay, a
// refused letter is neither.
func TestMetrics_CountStoredLettersAndReplays(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newClientWith(t, app.Config{Metrics: app.NewMetrics(reg)})
	ctx := context.Background()
	user := uuid.NewString()

	orderLetter := sendReq(user, "order/1/letter")
	orderLetter.Notification.OrderId = uuid.NewString()
	for _, req := range []*notificationv1.SendNotificationRequest{sendReq(user, "a"), sendReq(user, "a"), sendReq(user, ""), orderLetter, orderLetter} {
		if _, err := c.SendNotification(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	reused := sendReq(user, "a")
	reused.Notification.Subject = "Something else"
	_, err := c.SendNotification(ctx, reused)
	wantCode(t, err, codes.AlreadyExists)

	m := metrictest.Gather(t, reg)
	m.Expect(t, []metrictest.Want{
		metrictest.Series("kassa_notification_letters_stored_total", 2, "kind", "other"),
		metrictest.Series("kassa_notification_letters_stored_total", 1, "kind", "order"),
		metrictest.Series("kassa_notification_idempotent_replays_total", 2),
	})
}
