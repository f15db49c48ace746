package rpcserver

import (
	"context"
	"errors"
	"strings"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Admission is a server's admission control (package admission): at most
// Config.MaxInFlight calls at once, a short bounded queue, and every
// further call refused unstarted with RESOURCE_EXHAUSTED and a RetryInfo.
// RESOURCE_EXHAUSTED rather than UNAVAILABLE because the peers' retry
// policy (rpcclient.WithRetries) resends UNAVAILABLE at once: a shed call
// would come straight back, up to four times, from every peer.
type Admission struct {
	// Name is the server's name in the gauges' server label ("order"):
	// several servers may share a process and its registry.
	Name   string
	Config admission.Config
	// NeverShed lists full method names that are always admitted (and not
	// counted), besides those every server exempts (see exempt).
	NeverShed []string
}

// exempt reports the methods that are never shed, whatever the load:
// health checks (refusing a probe under load would take the replica out
// of the load balancer and push its load onto the others), reflection
// (an operator's grpcurl during an incident), the admin services (the
// repair tools of an incident: listing and retrying parked work) and the
// methods of Admission.NeverShed.
func (a *Admission) exempt(method string) bool {
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.") {
		return true
	}
	if svc, _, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/"); ok && strings.HasSuffix(svc, "AdminService") {
		return true
	}
	for _, m := range a.NeverShed {
		if m == method {
			return true
		}
	}
	return false
}

// admissionMetrics count what admission control refused and hold.
type admissionMetrics struct {
	shed *prometheus.CounterVec
}

func newAdmissionMetrics(reg prometheus.Registerer, name string, l *admission.Limiter) *admissionMetrics {
	m := &admissionMetrics{shed: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kassa", Subsystem: "admission", Name: "shed_total",
		Help: "Calls refused unstarted for overload (RESOURCE_EXHAUSTED, reason OVERLOADED), by method, limit (service: the server's in-flight bound; key: a per-account or per-buyer bound) and cause (queue_full, wait, deadline).",
	}, []string{"grpc_service", "grpc_method", "limit", "cause"})}
	if reg == nil {
		return m
	}
	if err := reg.Register(m.shed); err != nil {
		// Another server of this process counts already: count with it
		// (the method labels keep the servers apart).
		var dup prometheus.AlreadyRegisteredError
		if !errors.As(err, &dup) {
			panic(err)
		}
		m.shed = dup.ExistingCollector.(*prometheus.CounterVec)
	}
	server := prometheus.Labels{"server": name}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "kassa", Subsystem: "admission", Name: "in_flight", ConstLabels: server,
			Help: "Calls the server's admission control has admitted and that are not finished.",
		}, func() float64 { return float64(l.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "kassa", Subsystem: "admission", Name: "waiting", ConstLabels: server,
			Help: "Calls waiting for a slot of the server's admission control.",
		}, func() float64 { return float64(l.Waiting()) }),
	)
	return m
}

// initialize gives every method of s its zero series, so a rate over
// them exists before the first shed (the alert reads it).
func (m *admissionMetrics) initialize(s *grpc.Server, a *Admission) {
	for svc, info := range s.GetServiceInfo() {
		for _, meth := range info.Methods {
			if a.exempt("/" + svc + "/" + meth.Name) {
				continue
			}
			for _, cause := range []admission.Cause{admission.CauseQueueFull, admission.CauseWait, admission.CauseDeadline} {
				m.shed.WithLabelValues(svc, meth.Name, "service", string(cause))
			}
		}
	}
}

func (m *admissionMetrics) count(method, limit string, cause admission.Cause) {
	svc, meth, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	m.shed.WithLabelValues(svc, meth, limit, string(cause)).Inc()
}

// admissionInterceptor admits each call through l, or answers it at once
// with the shed error. It runs inside errorInterceptor, which maps the
// refusal like any handler error, and before the access checks, so a shed
// call costs no token verification. A refusal that a handler returns
// from a limit of its own (admission.Keyed, per account or buyer) is
// counted here too, as limit="key".
func admissionInterceptor(a *Admission, l *admission.Limiter, m *admissionMetrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if a.exempt(info.FullMethod) {
			return handler(ctx, req)
		}
		release, err := l.Acquire(ctx)
		if err != nil {
			if cause := admission.CauseOf(err); cause != "" {
				m.count(info.FullMethod, "service", cause)
			}
			return nil, err
		}
		defer release()
		resp, err := handler(ctx, req)
		if cause := admission.CauseOf(err); cause != "" {
			m.count(info.FullMethod, "key", cause)
		}
		return resp, err
	}
}
