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
// check in time counts as not ready.
const readyTimeout = 2 * time.Second

// serveHealthz answers 200 while the process runs (liveness): it checks no
// dependency, so a restart is never triggered by a service being down.
func serveHealthz(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the body of /readyz.
type readiness struct {
	Status   string            `json:"status"`             // "ready" or "not ready"
	NotReady []string          `json:"notReady,omitempty"` // services that are not SERVING
	Services map[string]string `json:"services"`           // service → SERVING, NOT_SERVING, UNREACHABLE, ...
}

// serveReadyz answers 200 only when every service's grpc.health.v1 Check
// says SERVING, else 503 naming the others. The checks run in parallel.
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
			body.NotReady = append(body.NotReady, u.name)
		}
	}
	code := http.StatusOK
	if len(body.NotReady) > 0 {
		body.Status, code = "not ready", http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
