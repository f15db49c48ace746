package validate_test

import (
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
	for _, s := range []string{"usd", "US", "USDT", "U$D"} {
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
