package validate_test

import (
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

func TestID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"6F9619FF-8B86-D011-B42D-00C04FC964FF", "6f9619ff-8b86-d011-b42d-00c04fc964ff", true},
		{"", "", false},
		{"42", "", false},
		{"{6f9619ff-8b86-d011-b42d-00c04fc964ff}", "", false},
		{"urn:uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff", "", false},
	}
	for _, tt := range tests {
		got, err := validate.ID("id", tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ID(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("ID(%q) error kind = %v", tt.in, apperr.KindOf(err))
		}
	}
}

func TestAmount(t *testing.T) {
	for _, n := range []int64{-1, 0, validate.MaxAmount + 1, -9223372036854775808} {
		if validate.Amount("amount", n) == nil {
			t.Errorf("Amount(%d) accepted", n)
		}
	}
	for _, n := range []int64{1, 100, validate.MaxAmount} {
		if err := validate.Amount("amount", n); err != nil {
			t.Errorf("Amount(%d) = %v", n, err)
		}
	}
}

func TestCurrency(t *testing.T) {
	for _, s := range []string{"usd", "US", "USDT", "U$D", "@SD", "US[", "ÜS", "US\x00", "US\xff"} {
		if validate.Currency("currency", s) == nil {
			t.Errorf("Currency(%q) accepted", s)
		}
	}
	for _, s := range []string{"", "USD", "EUR"} {
		if err := validate.Currency("currency", s); err != nil {
			t.Errorf("Currency(%q) = %v", s, err)
		}
	}
}

func TestRequestID(t *testing.T) {
	long := make([]byte, validate.MaxRequestIDLen+1)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		in       string
		required bool
		ok       bool
	}{
		{"", true, false},
		{"", false, true},
		{"abc", true, true},
		{" abc", true, false},
		{string(long), false, false},
	}
	for _, tt := range tests {
		if err := validate.RequestID("request_id", tt.in, tt.required); (err == nil) != tt.ok {
			t.Errorf("RequestID(%q, %v) = %v", tt.in, tt.required, err)
		}
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", true},
		{"ascii", "order paid", true},
		{"multi-byte", "Zahlung für Bestellung ✓", true},
		{"NUL inside", "a\x00b", false},
		{"NUL alone", "\x00", false},
		{"invalid byte", "a\xffb", false},
		{"truncated sequence", "\xe2\x82", false},
		{"surrogate half", "\xed\xa0\x80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate.Text("subject", tt.in)
			if (err == nil) != tt.ok || validate.IsText(tt.in) != tt.ok {
				t.Fatalf("Text(%q) = %v, IsText = %v; want ok=%v", tt.in, err, validate.IsText(tt.in), tt.ok)
			}
			if err != nil && (apperr.KindOf(err) != apperr.KindInvalid || err.Error() != "subject: "+validate.TextRule) {
				t.Fatalf("Text(%q) error = %v (kind %v), want an invalid subject", tt.in, err, apperr.KindOf(err))
			}
		})
	}
}

// Both services that store addresses (user, notification) answer with these
// exact messages; a client may show them as they are.
func TestEmail(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the error message, "" for accepted
	}{
		{"plain", "ada@example.com", ""},
		{"subdomain and plus", "ada+kassa@mail.example.co.uk", ""},
		{"longest allowed", strings.Repeat("a", 242) + "@example.com", ""},
		{"empty", "", "user.email: is required"},
		{"too long", strings.Repeat("a", 243) + "@example.com", "user.email: must be at most 254 characters"},
		{"no at sign", "ada.example.com", `user.email: must be a plain email address such as ada@example.com, got "ada.example.com"`},
		{"display name", "Ada <ada@example.com>", `user.email: must be a plain email address such as ada@example.com, got "Ada <ada@example.com>"`},
		{"leading space", " ada@example.com", `user.email: must be a plain email address such as ada@example.com, got " ada@example.com"`},
		{"comment", "ada@example.com (Ada)", `user.email: must be a plain email address such as ada@example.com, got "ada@example.com (Ada)"`},
		{"long value quoted short", strings.Repeat("x", 100), `user.email: must be a plain email address such as ada@example.com, got "` + strings.Repeat("x", 64) + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate.Email("user.email", tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Email(%q) = %v, want accepted", tt.in, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("Email(%q) = %v (kind %v), want invalid %q", tt.in, err, apperr.KindOf(err), tt.want)
			}
		})
	}
}

func TestShorten(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "abc", "abc"},
		{"64 bytes kept whole", strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{"65 bytes cut", strings.Repeat("a", 65), strings.Repeat("a", 64) + "..."},
		{"cut counts bytes, not characters", strings.Repeat("é", 40), strings.Repeat("é", 32) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validate.Shorten(tt.in); got != tt.want {
				t.Fatalf("Shorten(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
