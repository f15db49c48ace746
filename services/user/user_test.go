package user_test

import (
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/user"
)

func valid() user.User {
	return user.User{Username: "ada.l_2", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", Phone: "+441234567890"}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(u *user.User)
		wantField string // "" = valid
		wantMsg   string
	}{
		{"valid", func(u *user.User) {}, "", ""},
		{"minimal", func(u *user.User) { u.FirstName, u.LastName, u.Phone = "", "", "" }, "", ""},
		{"username 3 chars", func(u *user.User) { u.Username = "abc" }, "", ""},
		{"username 32 chars", func(u *user.User) { u.Username = strings.Repeat("a", 32) }, "", ""},
		{"no username", func(u *user.User) { u.Username = "" }, "user.username", "is required"},
		{"username 2 chars", func(u *user.User) { u.Username = "ab" }, "user.username", "3-32"},
		{"username 33 chars", func(u *user.User) { u.Username = strings.Repeat("a", 33) }, "user.username", "3-32"},
		{"username upper case", func(u *user.User) { u.Username = "Ada" }, "user.username", `use "ada"`},
		{"username starts with dot", func(u *user.User) { u.Username = ".ada" }, "user.username", "starting with"},
		{"username with space", func(u *user.User) { u.Username = "ada l" }, "user.username", "3-32"},
		{"no email", func(u *user.User) { u.Email = "" }, "user.email", "is required"},
		{"email without @", func(u *user.User) { u.Email = "ada.example.com" }, "user.email", "plain email"},
		{"email with name", func(u *user.User) { u.Email = "Ada <ada@example.com>" }, "user.email", "plain email"},
		{"email with spaces", func(u *user.User) { u.Email = " ada@example.com" }, "user.email", "plain email"},
		{"email too long", func(u *user.User) { u.Email = strings.Repeat("a", 245) + "@example.com" }, "user.email", "at most 254"},
		{"first name 100 chars", func(u *user.User) { u.FirstName = strings.Repeat("ß", 100) }, "", ""},
		{"first name 101 chars", func(u *user.User) { u.FirstName = strings.Repeat("a", 101) }, "user.first_name", "at most 100"},
		{"last name with newline", func(u *user.User) { u.LastName = "Love\nlace" }, "user.last_name", "control"},
		{"phone without plus", func(u *user.User) { u.Phone = "441234567890" }, "user.phone", "international"},
		{"phone too short", func(u *user.User) { u.Phone = "+123456" }, "user.phone", "international"},
		{"phone too long", func(u *user.User) { u.Phone = "+1234567890123456" }, "user.phone", "international"},
		{"phone with country code 0", func(u *user.User) { u.Phone = "+0123456789" }, "user.phone", "international"},
		{"phone with spaces", func(u *user.User) { u.Phone = "+44 1234 567890" }, "user.phone", "international"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := valid()
			tt.edit(&u)
			err := user.Check("user", u)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			e, ok := err.(*apperr.Error)
			if !ok || e.Kind != apperr.KindInvalid || e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantMsg) {
				t.Fatalf("Check = %#v, want invalid %s containing %q", err, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestSameProfile_IgnoresServerFields(t *testing.T) {
	a, b := valid(), valid()
	b.ID, b.AccountReady = "x", true
	if !a.SameProfile(b) {
		t.Fatal("users differing only in server fields are not the same profile")
	}
	b.Phone = ""
	if a.SameProfile(b) {
		t.Fatal("users with different phones are the same profile")
	}
}
