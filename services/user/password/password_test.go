package password_test

import (
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/user/password"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"empty", "", false},
		{"seven", "abcdefg", false},
		{"eight", "abcdefgh", true},
		{"eight multibyte", "äöüßéèêë", true},
		{"seven multibyte in more bytes", "äöüßéèê", false},
		{"128", strings.Repeat("x", 128), true},
		{"129", strings.Repeat("x", 129), false},
		{"only spaces", strings.Repeat(" ", 10), false},
		{"spaces inside", "correct horse", true},
		{"invalid UTF-8", "abcdefgh\xff", false},
		{"NUL", "abcdefgh\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := password.Check("user.password", tt.pw)
			if tt.ok {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if apperr.KindOf(err) != apperr.KindInvalid || !strings.HasPrefix(err.Error(), "user.password: ") {
				t.Fatalf("Check = %v, want INVALID_ARGUMENT naming user.password", err)
			}
			if len(tt.pw) >= 4 && strings.Contains(err.Error(), tt.pw) {
				t.Fatalf("Check error %q repeats the password", err)
			}
		})
	}
}

func TestHash_PHCFormatAndVerify(t *testing.T) {
	h, err := password.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct horse") {
		t.Fatalf("hash %q: want an argon2id PHC string with the documented parameters", h)
	}
	h2, _ := password.Hash("correct horse")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horsE", false}, {"", false}, {"correct horse ", false}} {
		ok, err := password.Verify(h, tt.pw)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tt.pw, ok, err, tt.want)
		}
	}
}

func TestVerify_MalformedHash(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$a2V5", "$argon2id$v=18$m=19456,t=2,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=0,t=2,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$"} {
		if ok, err := password.Verify(h, "x"); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformed", h, ok, err)
		}
	}
}
