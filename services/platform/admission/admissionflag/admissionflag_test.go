package admissionflag_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/admission/admissionflag"
)

func TestRegisterFlags(t *testing.T) {
	def := admission.Config{MaxInFlight: 8, MaxQueue: 4, MaxWait: 20 * time.Millisecond, What: "orders"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    admission.Config
		wantErr string
	}{
		{"defaults", nil, nil, def, ""},
		{"env", nil, map[string]string{"BUYER_MAX_IN_FLIGHT": "2", "BUYER_MAX_WAIT": "5ms"},
			admission.Config{MaxInFlight: 2, MaxQueue: 4, MaxWait: 5 * time.Millisecond, What: "orders"}, ""},
		{"flag beats env", []string{"-buyer-max-queue", "0"}, map[string]string{"BUYER_MAX_QUEUE": "9"},
			admission.Config{MaxInFlight: 8, MaxQueue: 0, MaxWait: 20 * time.Millisecond, What: "orders"}, ""},
		{"off", []string{"-buyer-max-in-flight", "0"}, nil,
			admission.Config{MaxInFlight: 0, MaxQueue: 4, MaxWait: 20 * time.Millisecond, What: "orders"}, ""},
		{"negative", []string{"-buyer-max-in-flight", "-1"}, nil, def, "buyer-max-in-flight (BUYER_MAX_IN_FLIGHT)"},
		{"not a number", nil, map[string]string{"BUYER_MAX_QUEUE": "many"}, def, "buyer-max-queue (BUYER_MAX_QUEUE)"},
		{"bad wait", []string{"-buyer-max-wait", "soon"}, nil, def, "buyer-max-wait (BUYER_MAX_WAIT)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			load := admissionflag.RegisterFlags(fs, func(k string) string { return tt.env[k] }, "buyer-", "orders of one buyer", def)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := load()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
