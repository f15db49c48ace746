package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// readyTimeout bounds /readyz: a service that does not answer its health
// check in time counts as down.
const readyTimeout = 2 * time.Second

// serveHealthz answers 200 while the process runs (liveness): it checks no
// dependency, so a restart is never triggered by a service being down.
func serveHealthz(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the body of /readyz.
type readiness struct {
	// "ready" (all four SERVING), "degraded" (some down) or "draining".
	Status   string            `json:"status"`
	Down     []string          `json:"down,omitempty"` // services that are not SERVING
	Services map[string]string `json:"services"`       // service → SERVING, NOT_SERVING, UNREACHABLE, ...
}

// serveReadyz reports every service's grpc.health.v1 Check (run in
// parallel) and answers 200 unless the gateway is draining. A service that
// is down does not make the gateway unready: every replica would see the
// same outage and leave the load balancer together, so the routes of the
// services that are up would go with it, and clients of the down one would
// get a refused connection instead of the gateway's 503 with Retry-After.
// That holds even when all four are down: the gateway's own answer is
// still the more useful one, and /openapi.json still works.
//
// ?all asks the stricter question of start-up scripts and `helm test`
// (is the whole system up?): 503 unless every service is SERVING. It is
// not meant for the kubelet.
func (g *Gateway) serveReadyz(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	states := make([]string, len(g.upstreams))
	var wg sync.WaitGroup
	for i, u := range g.upstreams {
		wg.Go(func() {
			resp, err := healthpb.NewHealthClient(u.conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				g.log.DebugContext(ctx, "health check failed", "upstream", u.name, "error", err)
				states[i] = "UNREACHABLE"
				return
			}
			states[i] = resp.GetStatus().String()
		})
	}
	wg.Wait()
	body := readiness{Status: "ready", Services: make(map[string]string, len(states))}
	for i, u := range g.upstreams {
		body.Services[u.name] = states[i]
		if states[i] != healthpb.HealthCheckResponse_SERVING.String() {
			body.Down = append(body.Down, u.name)
		}
	}
	code := http.StatusOK
	if len(body.Down) > 0 {
		body.Status = "degraded"
		if _, all := r.URL.Query()["all"]; all {
			code = http.StatusServiceUnavailable
		}
	}
	if g.isDraining() {
		body.Status, code = "draining", http.StatusServiceUnavailable
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", g.retryAfter)
	}
	writeJSON(w, code, body)
}

// isDraining reports whether the process has begun to shut down.
func (g *Gateway) isDraining() bool {
	select {
	case <-g.draining:
		return true
	default:
		return false
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
