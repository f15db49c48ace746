// Package keys manages the user service's token signing keys: a file
// holding a private Ed25519 JWK Set (RFC 7517, RFC 8037), the newest key of
// which signs while every key in it verifies, and the public half of that
// set, which is what other services fetch to verify tokens.
//
// Rotation: Generate appends a new key (it signs from the next start on);
// once every token signed by the old key has expired (the access token
// lifetime), remove the old key from the file.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Set is a loaded signing key file.
type Set struct {
	private jwk.Set
	signer  jwk.Key
	public  []byte // the public JWK Set as JSON
}

// Load reads and checks the key file at path: a JWK Set of at least one
// Ed25519 private key, each with a unique kid and alg EdDSA.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("signing keys %s: %w", path, err)
	}
	return s, nil
}

// Parse is Load for the file's contents.
func Parse(b []byte) (*Set, error) {
	set, err := jwk.Parse(b)
	if err != nil {
		// jwx's message may quote key material; keep it out of logs.
		return nil, errors.New("not a JSON Web Key Set")
	}
	if set.Len() == 0 {
		return nil, errors.New("the key set holds no key")
	}
	seen := map[string]bool{}
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		switch {
		case kid == "":
			return nil, fmt.Errorf("key %d has no kid", i)
		case seen[kid]:
			return nil, fmt.Errorf("kid %q appears twice", kid)
		}
		seen[kid] = true
		okp, ok := k.(jwk.OKPPrivateKey)
		if !ok {
			return nil, fmt.Errorf("key %q is not an Ed25519 private key (kty OKP, crv Ed25519, with d)", kid)
		}
		if crv, _ := okp.Crv(); crv != jwa.Ed25519() {
			return nil, fmt.Errorf("key %q is not an Ed25519 private key (kty OKP, crv Ed25519, with d)", kid)
		}
		if alg, ok := k.Algorithm(); !ok || alg != jwa.EdDSA() {
			return nil, fmt.Errorf("key %q must have alg EdDSA", kid)
		}
	}
	pub, err := jwk.PublicSetOf(set)
	if err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	signer, _ := set.Key(set.Len() - 1)
	return &Set{private: set, signer: signer, public: pubJSON}, nil
}

// Signer is the key new tokens are signed with: the last one in the file.
func (s *Set) Signer() jwk.Key { return s.signer }

// SignerKID is the kid of Signer.
func (s *Set) SignerKID() string {
	kid, _ := s.signer.KeyID()
	return kid
}

// PublicJSON is the public JWK Set (no private parts), as served at
// /.well-known/jwks.json.
func (s *Set) PublicJSON() []byte { return s.public }

// Handler serves the public JWK Set. Mount it at /.well-known/jwks.json.
// Verifiers cache the set, so a short max-age lets a rotated key reach them
// soon without each verification fetching it.
func (s *Set) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(s.public)
	})
}

// Generate adds a fresh Ed25519 key to the key file at path, creating the
// file (mode 0600) when it does not exist, and returns the new key's kid.
// The new key is last, so it signs from the next start of the service; the
// existing keys keep verifying. The file is replaced atomically, so a
// crash leaves either the old or the new set.
func Generate(path string) (string, error) {
	set := jwk.NewSet()
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("read signing keys: %w", err)
	default:
		if _, err := Parse(b); err != nil {
			return "", fmt.Errorf("signing keys %s: %w; not changing it", path, err)
		}
		if set, err = jwk.Parse(b); err != nil {
			return "", fmt.Errorf("signing keys %s: %w", path, err)
		}
	}
	k, kid, err := newKey(time.Now())
	if err != nil {
		return "", err
	}
	if err := set.AddKey(k); err != nil {
		return "", fmt.Errorf("add key: %w", err)
	}
	out, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode signing keys: %w", err)
	}
	if err := writeFile(path, append(out, '\n')); err != nil {
		return "", err
	}
	return kid, nil
}

// newKey makes an Ed25519 key whose kid starts with its creation date, so
// an operator reading the file sees which key is old.
func newKey(now time.Time) (jwk.Key, string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate key: %w", err)
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return nil, "", fmt.Errorf("generate kid: %w", err)
	}
	kid := now.UTC().Format("20060102") + "-" + hex.EncodeToString(suffix)
	k, err := jwk.Import(priv)
	if err != nil {
		return nil, "", fmt.Errorf("import key: %w", err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.EdDSA(), jwk.KeyUsageKey: jwk.ForSignature} {
		if err := k.Set(name, v); err != nil {
			return nil, "", fmt.Errorf("key %s: %w", name, err)
		}
	}
	return k, kid, nil
}

func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-keys-*")
	if err != nil {
		return fmt.Errorf("write signing keys: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write signing keys: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write signing keys: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write signing keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write signing keys: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write signing keys: %w", err)
	}
	return nil
}
