package boot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/boot"
)

func TestLimitOptions_RoundTripAndBadValue(t *testing.T) {
	def := admission.Config{MaxInFlight: 4, MaxQueue: 2, MaxWait: 20 * time.Millisecond, What: "orders of one buyer"}
	opts := map[string]string{}
	for _, o := range boot.LimitOptions("buyer-", "orders of one buyer", def) {
		if !strings.HasPrefix(o.Name, "buyer-") || o.Usage == "" {
			t.Errorf("option %+v: want a buyer- name and a usage", o)
		}
		opts[o.Name] = o.Default
	}
	got, err := boot.Limit(opts, "buyer-", def)
	if err != nil || got != def {
		t.Fatalf("defaults read back as %+v, %v; want %+v", got, err, def)
	}
	opts["buyer-max-wait"] = "-1s"
	if _, err := boot.Limit(opts, "buyer-", def); err == nil || !strings.Contains(err.Error(), "buyer-max-wait (BUYER_MAX_WAIT)") {
		t.Fatalf("bad wait: %v, want an error naming buyer-max-wait (BUYER_MAX_WAIT)", err)
	}
}
