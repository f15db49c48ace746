package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Leeway is the clock skew allowed on exp, nbf and iat. The design caps it
// at a minute; half of that covers NTP-synced hosts with room to spare.
const Leeway = 30 * time.Second

// maxTokenSize bounds what is parsed at all: a kassa token is a few hundred
// bytes, and a header value of megabytes is an attack, not a token.
const maxTokenSize = 8 << 10

// Issuer is one token issuer the Verifier trusts.
type Issuer struct {
	Issuer   string // the exact iss claim
	Audience string // an aud value the token must carry
	// JWKSURL is where the issuer's public keys are; empty discovers it
	// from Issuer + "/.well-known/openid-configuration".
	JWKSURL string
	// External marks an issuer other than kassa's own (Keycloak, Auth0):
	// its tokens are customers only, never services, and the user id and
	// roles come from UserClaim and RolesClaim.
	External bool
	// UserClaim names the claim holding the kassa user id (a UUID);
	// default "sub".
	UserClaim string
	// RolesClaim names the claim holding the roles (an array of strings);
	// a dotted path reaches into objects ("realm_access.roles"); default
	// "roles".
	RolesClaim string
	// RevocationURL is where the issuer lists the subjects whose tokens
	// must be refused before they expire (deleted users); empty: no list.
	RevocationURL string
}

// VerifierOptions configures NewVerifier.
type VerifierOptions struct {
	Issuers []Issuer
	// HTTPClient fetches key sets and discovery documents; default a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	// RefreshInterval is how often key sets are fetched again in the
	// background, so an added or removed key is seen; default 5 minutes.
	RefreshInterval time.Duration
	// UnknownKeyRefresh is the least time between two fetches a token with
	// an unknown kid triggers, so a stream of forged kids cannot turn the
	// verifier into a load generator against the issuer; default 5 s.
	UnknownKeyRefresh time.Duration
	// RevocationRefresh is how often the issuers' revocation lists are
	// fetched again; it bounds how long a deleted user's token still
	// works; default 2 s.
	RevocationRefresh time.Duration
	// Log receives the revocation list's fetch failures; default
	// slog.Default().
	Log *slog.Logger
}

// Verifier checks bearer tokens against the trusted issuers' public keys.
// It is safe for concurrent use; Close stops its background refreshes.
type Verifier struct {
	cache    *jwk.Cache
	verified verifiedTokens
	issuers  []*trustedIssuer
	minFetch time.Duration
	stop     context.CancelFunc // ends the revocation list refreshes
	wg       sync.WaitGroup
}

type trustedIssuer struct {
	Issuer
	mu          sync.Mutex
	lastFetch   time.Time
	revocations *revocationList // nil without a RevocationURL
	keys        atomic.Pointer[keySet]
}

// NewVerifier registers every issuer's key set with a refreshing cache.
// Key sets are fetched lazily: a service may start before its issuer (the
// user service serves its keys on a listener that opens after setup), and
// tokens are refused until the keys arrive. Discovery of a missing JWKS
// URL happens here, so a wrong external issuer fails at start.
func NewVerifier(ctx context.Context, o VerifierOptions) (*Verifier, error) {
	if len(o.Issuers) == 0 {
		return nil, errors.New("auth: no trusted issuer configured")
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 5 * time.Minute
	}
	if o.UnknownKeyRefresh <= 0 {
		o.UnknownKeyRefresh = 5 * time.Second
	}
	if o.RevocationRefresh <= 0 {
		o.RevocationRefresh = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	// The cache's workers live until Close, not until ctx ends: ctx is
	// the start-up context and may be short.
	cache, err := jwk.NewCache(context.WithoutCancel(ctx), httprc.NewClient())
	if err != nil {
		return nil, fmt.Errorf("auth: start key cache: %w", err)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	v := &Verifier{cache: cache, minFetch: o.UnknownKeyRefresh, stop: stop}
	for _, is := range o.Issuers {
		if is.UserClaim == "" {
			is.UserClaim = "sub"
		}
		if is.RolesClaim == "" {
			is.RolesClaim = "roles"
		}
		if is.JWKSURL == "" {
			if is.JWKSURL, err = discoverJWKS(ctx, client, is.Issuer); err != nil {
				v.Close()
				return nil, err
			}
		}
		if err := cache.Register(ctx, is.JWKSURL, jwk.WithHTTPClient(client), jwk.WithWaitReady(false),
			jwk.WithConstantInterval(o.RefreshInterval)); err != nil {
			v.Close()
			return nil, fmt.Errorf("auth: key set %s of %s: %w", is.JWKSURL, is.Issuer, err)
		}
		ti := &trustedIssuer{Issuer: is}
		if is.RevocationURL != "" {
			// Fetched in the background like the keys: the user service
			// may not be up yet, and until it is, nobody is revoked.
			ti.revocations = newRevocationList(is.RevocationURL, client, o.Log)
			v.wg.Add(1)
			go func() {
				defer v.wg.Done()
				ti.revocations.run(bg, o.RevocationRefresh)
			}()
		}
		v.issuers = append(v.issuers, ti)
	}
	return v, nil
}

// Close stops the background key and revocation list refreshes.
func (v *Verifier) Close() {
	v.stop()
	v.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = v.cache.Shutdown(ctx)
}

func discoverJWKS(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("auth: discovery of %s: %w", issuer, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("auth: discovery of %s: %w", issuer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("auth: discovery of %s: %s answered %s", issuer, u, resp.Status)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("auth: discovery of %s: %w", issuer, err)
	}
	// OIDC Discovery 4.3: the document must name the issuer it was
	// fetched for, or its keys could be another issuer's.
	if doc.Issuer != issuer || doc.JWKSURI == "" {
		return "", fmt.Errorf("auth: discovery of %s: document names issuer %q and jwks_uri %q", issuer, doc.Issuer, doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}

// Verify checks a compact JWT and returns who it names. Every refusal is
// an *InvalidTokenError (or ErrKeysUnavailable when no key set could be
// fetched, which is not the token's fault).
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, invalid(ReasonMissing, nil)
	}
	if len(token) > maxTokenSize || strings.Count(token, ".") != 2 {
		return Principal{}, invalid(ReasonMalformed, errors.New("not a compact JWS"))
	}
	now := time.Now()
	sum := sha256.Sum256([]byte(token))
	if p, ok, err := v.lookup(ctx, sum, now); ok || err != nil {
		return p, err
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		return Principal{}, invalid(ReasonMalformed, err)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg, _ := hdr.Algorithm()
	switch {
	case alg == jwa.EdDSA() || alg == jwa.ES256():
	case alg == jwa.NoSignature():
		return Principal{}, invalid(ReasonAlgNone, nil)
	case strings.HasPrefix(alg.String(), "HS"):
		// A verifier that let the key pick the algorithm would check an
		// HMAC keyed with the public key, which everyone has.
		return Principal{}, invalid(ReasonAlgSymmetric, fmt.Errorf("alg %s", alg))
	default:
		return Principal{}, invalid(ReasonAlgNotAllowed, fmt.Errorf("alg %s", alg))
	}
	kid, _ := hdr.KeyID()
	if kid == "" {
		return Principal{}, invalid(ReasonNoKeyID, nil)
	}
	// The issuer is read before the signature is checked only to choose
	// whose keys to check it with; jwt.Parse validates it again below.
	var unverified struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(msg.Payload(), &unverified); err != nil {
		return Principal{}, invalid(ReasonMalformed, err)
	}
	is := v.issuer(unverified.Iss)
	if is == nil {
		return Principal{}, invalid(ReasonWrongIssuer, fmt.Errorf("iss %q", unverified.Iss))
	}
	// The set is read before the key: should a refresh land in between,
	// the token is remembered against the older set and checked in full
	// once more, never the other way round.
	set := v.currentSet(ctx, is, now)
	key, err := v.key(ctx, is, kid)
	if err != nil {
		return Principal{}, err
	}
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKey(alg, key),
		jwt.WithIssuer(is.Issuer.Issuer),
		jwt.WithAudience(is.Audience),
		jwt.WithAcceptableSkew(Leeway),
		jwt.WithRequiredClaim("exp"),
		jwt.WithContext(ctx),
	)
	if err != nil {
		return Principal{}, classify(err)
	}
	p, err := is.principal(tok)
	if err != nil {
		return Principal{}, err
	}
	if err := is.checkRevoked(p); err != nil {
		return Principal{}, err
	}
	exp, _ := tok.Expiration()
	v.remember(sum, verifiedToken{p: p, is: is, set: set, exp: exp}, now)
	return p, nil
}

func (v *Verifier) issuer(iss string) *trustedIssuer {
	for _, is := range v.issuers {
		if is.Issuer.Issuer == iss {
			return is
		}
	}
	return nil
}

// key finds kid in the issuer's set, fetching the set again (at most every
// UnknownKeyRefresh) when it is not there: that is how a freshly rotated
// key verifies before the next scheduled refresh.
func (v *Verifier) key(ctx context.Context, is *trustedIssuer, kid string) (jwk.Key, error) {
	set, _ := v.cache.Lookup(ctx, is.JWKSURL)
	if set != nil {
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	is.mu.Lock()
	if time.Since(is.lastFetch) >= v.minFetch {
		is.lastFetch = time.Now()
		if fresh, err := v.cache.Refresh(ctx, is.JWKSURL); err == nil {
			set = fresh
		}
	}
	is.mu.Unlock()
	if set == nil {
		// A refresh that raced ours may have filled the cache.
		if set, _ = v.cache.Lookup(ctx, is.JWKSURL); set == nil {
			return nil, fmt.Errorf("%w: %s", ErrKeysUnavailable, is.JWKSURL)
		}
	}
	if k, ok := set.LookupKeyID(kid); ok {
		return k, nil
	}
	for _, other := range v.issuers {
		if other == is {
			continue
		}
		if s, _ := v.cache.Lookup(ctx, other.JWKSURL); s != nil {
			if _, ok := s.LookupKeyID(kid); ok {
				return nil, invalid(ReasonForeignKeyID, fmt.Errorf("kid %q belongs to %s, token names %s", kid, other.Issuer.Issuer, is.Issuer.Issuer))
			}
		}
	}
	return nil, invalid(ReasonUnknownKeyID, fmt.Errorf("kid %q", kid))
}

func classify(err error) error {
	switch {
	case errors.Is(err, jwt.TokenExpiredError()):
		return invalid(ReasonExpired, err)
	case errors.Is(err, jwt.TokenNotYetValidError()), errors.Is(err, jwt.InvalidIssuedAtError()):
		return invalid(ReasonNotYetValid, err)
	case errors.Is(err, jwt.InvalidAudienceError()):
		return invalid(ReasonWrongAudience, err)
	case errors.Is(err, jwt.InvalidIssuerError()):
		return invalid(ReasonWrongIssuer, err)
	case errors.Is(err, jwt.ValidateError()):
		return invalid(ReasonBadClaims, err)
	case errors.Is(err, jws.VerificationError()), errors.Is(err, jws.VerifyError()):
		return invalid(ReasonBadSignature, err)
	}
	return invalid(ReasonMalformed, err)
}

// principal maps verified claims to a Principal. Service identities come
// only from kassa's own issuer; an external issuer speaks for customers.
func (is *trustedIssuer) principal(tok jwt.Token) (Principal, error) {
	roles, err := stringsClaim(tok, is.RolesClaim)
	if err != nil {
		return Principal{}, invalid(ReasonBadClaims, err)
	}
	if is.External {
		var user string
		if err := tok.Get(is.UserClaim, &user); err != nil || uuid.Validate(user) != nil {
			return Principal{}, invalid(ReasonBadClaims, fmt.Errorf("claim %s %q is not a kassa user id", is.UserClaim, user))
		}
		kept := []string{RoleCustomer}
		for _, r := range roles {
			if r != RoleService && r != RoleCustomer {
				kept = append(kept, r)
			}
		}
		return Principal{UserID: user, Roles: kept}, nil
	}
	sub, _ := tok.Subject()
	if name, ok := strings.CutPrefix(sub, "service:"); ok {
		var clientID string
		_ = tok.Get("client_id", &clientID)
		if name == "" || clientID != name || len(roles) != 1 || roles[0] != RoleService {
			return Principal{}, invalid(ReasonBadClaims, fmt.Errorf("service token sub %q client_id %q roles %v", sub, clientID, roles))
		}
		return Principal{Service: name, Roles: roles}, nil
	}
	if uuid.Validate(sub) != nil {
		return Principal{}, invalid(ReasonBadClaims, fmt.Errorf("sub %q is not a user id", sub))
	}
	for _, r := range roles {
		if r == RoleService {
			return Principal{}, invalid(ReasonBadClaims, errors.New("a user token may not carry the service role"))
		}
	}
	return Principal{UserID: sub, Roles: roles}, nil
}

// stringsClaim reads an array of strings at a dotted claim path; a missing
// claim is no roles.
func stringsClaim(tok jwt.Token, path string) ([]string, error) {
	first, rest, _ := strings.Cut(path, ".")
	var v any
	if err := tok.Get(first, &v); err != nil {
		return nil, nil
	}
	for rest != "" {
		var name string
		name, rest, _ = strings.Cut(rest, ".")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("claim %s is not an object at %s", path, name)
		}
		if v, ok = m[name]; !ok {
			return nil, nil
		}
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("claim %s is not an array", path)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("claim %s holds a non-string", path)
		}
		out = append(out, s)
	}
	return out, nil
}
