package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/kassa-dev/kassa/services/platform/telemetry"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus collectors.
type metrics struct {
	duration *prometheus.HistogramVec
}

// newMetrics creates the collectors and registers them with reg (if not
// nil). A second gateway in the same process shares the first one's.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "kassa",
		Subsystem: "gateway",
		Name:      "http_request_duration_seconds",
		Help:      "Duration of HTTP requests by method, route pattern (never the raw path) and status code.",
		Buckets:   telemetry.LatencyBuckets,
	}, []string{"method", "route", "code"})
	if reg != nil {
		if err := reg.Register(h); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return nil, err
			}
			existing, ok := dup.ExistingCollector.(*prometheus.HistogramVec)
			if !ok {
				return nil, err
			}
			h = existing
		}
	}
	return &metrics{duration: h}, nil
}

func (m *metrics) observe(method, route string, code int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER" // keep the label set bounded
	}
	m.duration.WithLabelValues(method, route, strconv.Itoa(code)).Observe(d.Seconds())
}
