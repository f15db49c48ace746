package boot_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/boot"
)

func TestFlagsLimit_DefaultsSettingsAndBadValue(t *testing.T) {
	def := admission.Config{MaxInFlight: 4, MaxQueue: 2, MaxWait: 20 * time.Millisecond, What: "orders of one buyer"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    admission.Config
		wantErr string
	}{
		{"defaults", nil, nil, def, ""},
		{"flag and env", []string{"-buyer-max-in-flight", "8"}, map[string]string{"BUYER_MAX_WAIT": "5ms"},
			admission.Config{MaxInFlight: 8, MaxQueue: 2, MaxWait: 5 * time.Millisecond, What: "orders of one buyer"}, ""},
		{"bad wait", []string{"-buyer-max-wait", "-1s"}, nil, def, "buyer-max-wait (BUYER_MAX_WAIT)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := boot.NewFlags(fs, func(k string) string { return tt.env[k] })
			var got admission.Config
			f.Limit(&got, "buyer-", "orders of one buyer", def)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := f.Parse()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
