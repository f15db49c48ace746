// Package password checks, hashes and verifies user passwords with
// argon2id, the OWASP-recommended password hash.
//
// Parameters (OWASP Password Storage Cheat Sheet, the minimum for
// argon2id): m = 19 MiB, t = 2 passes, p = 1 lane, a 16-byte random salt
// and a 32-byte key. A hash is stored as a PHC string,
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>" (unpadded base64), so the
// parameters travel with each hash and can be raised later without
// invalidating the stored ones.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"golang.org/x/crypto/argon2"
)

// Length bounds in characters. The upper bound keeps one hash cheap
// enough that long inputs cannot be used to burn CPU.
const (
	MinLen = 8
	MaxLen = 128
)

// Params of new hashes.
const (
	memoryKiB = 19456
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// Check validates a new password. The message never repeats the password.
func Check(field, pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case pw == "":
		return apperr.Invalid(field, "is required")
	case !utf8.ValidString(pw):
		return apperr.Invalid(field, "must be valid UTF-8")
	case strings.ContainsRune(pw, 0):
		return apperr.Invalid(field, "must not contain NUL characters")
	case n < MinLen:
		return apperr.Invalid(field, "must be at least %d characters, got %d", MinLen, n)
	case n > MaxLen:
		return apperr.Invalid(field, "must be at most %d characters, got %d", MaxLen, n)
	case strings.TrimSpace(pw) == "":
		return apperr.Invalid(field, "must not be only spaces")
	}
	return nil
}

// Hash returns the PHC string of pw with a fresh random salt.
func Hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := withMemory(func() []byte { return argon2.IDKey([]byte(pw), salt, passes, memoryKiB, lanes, keyLen) })
	return encode(memoryKiB, passes, lanes, salt, key), nil
}

func encode(m uint32, t uint32, p uint8, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// ErrMalformed is returned by Verify for a stored hash it cannot read.
var ErrMalformed = errors.New("malformed argon2id hash")

// Verify reports whether pw matches the PHC string phc, comparing in
// constant time. It uses the parameters stored in phc.
func Verify(phc, pw string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, ErrMalformed
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false, ErrMalformed
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) == 0 {
		return false, ErrMalformed
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformed
	}
	got := withMemory(func() []byte { return argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want))) })
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummy is a hash of a random password, made on first use (not at start,
// where every process importing the package would pay its 19 MiB), which
// VerifyMissing checks against.
var dummy = sync.OnceValue(func() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	h, _ := Hash(string(b))
	return h
})

// VerifyMissing spends the time of one Verify and reports false. Login
// calls it when the user does not exist or has no password, so the answer
// takes as long as for a wrong password and does not reveal which
// usernames exist.
func VerifyMissing(pw string) {
	_, _ = Verify(dummy(), pw)
}
