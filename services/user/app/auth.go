package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/password"
	"github.com/kassa-dev/kassa/services/user/token"
)

// AuthStore is the persistence of logins and sessions (user.Store).
type AuthStore interface {
	AttemptLogin(ctx context.Context, login string, verify func(hash string) bool, p user.LockPolicy, s user.Session) (user.LoginAttempt, error)
	Rotate(ctx context.Context, old []byte, next user.Session) (user.Rotation, error)
	RevokeFamily(ctx context.Context, token []byte) (bool, error)
}

// AuthConfig tunes an Auth; zero fields take the defaults below.
type AuthConfig struct {
	// Issuer signs access tokens; nil means the service has no signing keys
	// and every call answers user.ErrAuthNotConfigured.
	Issuer *token.Issuer
	// RefreshTTL is how long a refresh token stays valid unused.
	RefreshTTL time.Duration
	// Clients are the service clients of the client credentials grant.
	Clients Clients
	// Lock is the brute-force rule per account.
	Lock user.LockPolicy
	// Log receives refused logins and replayed refresh tokens; nil logs
	// nothing.
	Log *slog.Logger
}

// Defaults of AuthConfig, also the flags' defaults.
const (
	DefaultRefreshTTL  = 30 * 24 * time.Hour
	DefaultMaxFailures = 5
	DefaultLockBase    = time.Second
	DefaultLockMax     = 15 * time.Minute
)

// Auth implements the AuthService use cases.
type Auth struct {
	store AuthStore
	cfg   AuthConfig
	log   *slog.Logger
}

// NewAuth returns an Auth over store.
func NewAuth(store AuthStore, cfg AuthConfig) *Auth {
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.Lock.MaxFailures <= 0 {
		cfg.Lock.MaxFailures = DefaultMaxFailures
	}
	if cfg.Lock.Base <= 0 {
		cfg.Lock.Base = DefaultLockBase
	}
	if cfg.Lock.Max < cfg.Lock.Base {
		cfg.Lock.Max = max(DefaultLockMax, cfg.Lock.Base)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Auth{store: store, cfg: cfg, log: log}
}

// Tokens is a token pair; Refresh is "" for service tokens.
type Tokens struct {
	Access  token.Access
	Refresh string
}

// Login checks login (a username or email) and pw and starts a session.
func (a *Auth) Login(ctx context.Context, login, pw string) (Tokens, error) {
	if a.cfg.Issuer == nil {
		return Tokens{}, user.ErrAuthNotConfigured
	}
	switch {
	case login == "":
		return Tokens{}, apperr.Invalid("username", "is required")
	case pw == "":
		return Tokens{}, apperr.Invalid("password", "is required")
	case len(login) > 512 || len(pw) > 4*password.MaxLen:
		// Longer than any valid login or password: refuse before hashing.
		return Tokens{}, user.ErrBadCredentials
	}
	refresh, session, err := a.newSession()
	if err != nil {
		return Tokens{}, err
	}
	verify := func(hash string) bool {
		ok, err := password.Verify(hash, pw)
		if err != nil {
			a.log.ErrorContext(ctx, "stored password hash is unreadable", "error", err)
		}
		return ok
	}
	at, err := a.store.AttemptLogin(ctx, login, verify, a.cfg.Lock, session)
	if err != nil {
		return Tokens{}, err
	}
	switch {
	case !at.LockedUntil.IsZero():
		a.log.InfoContext(ctx, "login refused: account locked", "user_id", at.UserID, "until", at.LockedUntil)
		return Tokens{}, user.LoginLocked(at.LockedUntil)
	case !at.Found || !at.HasPassword:
		// As slow as a wrong password, so the answer's timing does not tell
		// which usernames exist.
		password.VerifyMissing(pw)
		return Tokens{}, user.ErrBadCredentials
	case !at.OK:
		return Tokens{}, user.ErrBadCredentials
	}
	access, err := a.cfg.Issuer.Customer(at.UserID, at.Admin)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{Access: access, Refresh: refresh}, nil
}

// Refresh exchanges a refresh token for a new pair.
func (a *Auth) Refresh(ctx context.Context, refresh string) (Tokens, error) {
	if a.cfg.Issuer == nil {
		return Tokens{}, user.ErrAuthNotConfigured
	}
	old, err := tokenHash(refresh)
	if err != nil {
		return Tokens{}, err
	}
	next, session, err := a.newSession()
	if err != nil {
		return Tokens{}, err
	}
	rot, err := a.store.Rotate(ctx, old, session)
	if err != nil {
		return Tokens{}, err
	}
	if rot.Reused {
		a.log.WarnContext(ctx, "a used refresh token was presented again; its session is revoked")
	}
	if !rot.OK {
		return Tokens{}, user.ErrBadRefresh
	}
	access, err := a.cfg.Issuer.Customer(rot.UserID, rot.Admin)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{Access: access, Refresh: next}, nil
}

// Logout revokes the session of a refresh token. Like OAuth 2.0 token
// revocation (RFC 7009) it succeeds for a token that is unknown or already
// revoked, which tells a caller nothing about other people's tokens.
func (a *Auth) Logout(ctx context.Context, refresh string) error {
	if a.cfg.Issuer == nil {
		return user.ErrAuthNotConfigured
	}
	h, err := tokenHash(refresh)
	if err != nil {
		return err
	}
	_, err = a.store.RevokeFamily(ctx, h)
	return err
}

// Token is the client credentials grant: a service token for a known
// client whose secret matches.
func (a *Auth) Token(ctx context.Context, grantType, clientID, secret string) (token.Access, error) {
	if a.cfg.Issuer == nil {
		return token.Access{}, user.ErrAuthNotConfigured
	}
	switch {
	case grantType != "client_credentials":
		return token.Access{}, apperr.Invalid("grant_type", `must be "client_credentials"`)
	case clientID == "":
		return token.Access{}, apperr.Invalid("client_id", "is required")
	case secret == "":
		return token.Access{}, apperr.Invalid("client_secret", "is required")
	}
	if !a.cfg.Clients.check(clientID, secret) {
		a.log.WarnContext(ctx, "client credentials refused", "client_id", clientID)
		return token.Access{}, user.ErrBadClient
	}
	return a.cfg.Issuer.Service(clientID)
}

// refreshTokenLen is the number of random bytes in a refresh token.
const refreshTokenLen = 32

func (a *Auth) newSession() (string, user.Session, error) {
	b := make([]byte, refreshTokenLen)
	if _, err := rand.Read(b); err != nil {
		return "", user.Session{}, fmt.Errorf("refresh token: %w", err)
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(t))
	return t, user.Session{TokenHash: h[:], Expire: time.Now().Add(a.cfg.RefreshTTL)}, nil
}

// tokenHash checks the shape of a presented refresh token and returns the
// hash it is stored under. A token of another shape was never issued.
func tokenHash(t string) ([]byte, error) {
	if t == "" {
		return nil, apperr.Invalid("refresh_token", "is required")
	}
	if b, err := base64.RawURLEncoding.DecodeString(t); err != nil || len(b) != refreshTokenLen {
		return nil, user.ErrBadRefresh
	}
	h := sha256.Sum256([]byte(t))
	return h[:], nil
}

// Clients maps a client id (a service name) to the SHA-256 of its secret.
// Secrets are 32 random bytes, so a plain hash is as strong as a password
// hash would be, and far cheaper on every token request.
type Clients map[string][32]byte

// ParseClients reads "order=<sha256 hex>,name=<hex>". A value without '='
// is the path of a file holding that list (commas or new lines between
// entries, '#' starts a comment line), as a mounted Secret would.
func ParseClients(v string) (Clients, error) {
	if v == "" {
		return Clients{}, nil
	}
	if !strings.Contains(v, "=") {
		b, err := os.ReadFile(v)
		if err != nil {
			return nil, fmt.Errorf("read clients file: %w", err)
		}
		var lines []string
		for l := range strings.SplitSeq(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		v = strings.Join(lines, ",")
	}
	c := Clients{}
	for e := range strings.SplitSeq(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		name, hexSum, ok := strings.Cut(e, "=")
		if !ok || !user.IsClientName(name) {
			return nil, fmt.Errorf("client %q: want name=<sha256 hex of the secret> with a lower-case name", name)
		}
		sum, err := hex.DecodeString(hexSum)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("client %q: the secret hash must be 64 hex digits (sha256)", name)
		}
		if _, dup := c[name]; dup {
			return nil, fmt.Errorf("client %q appears twice", name)
		}
		c[name] = [32]byte(sum)
	}
	return c, nil
}

// SecretHash is the value a client's secret is configured as.
func SecretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// check compares in constant time; an unknown client is compared against a
// zero hash, so both refusals take the same time.
func (c Clients) check(id, secret string) bool {
	want, known := c[id]
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known
}
