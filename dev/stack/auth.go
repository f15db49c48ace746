package stack

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kassa-dev/kassa/services/platform/auth"
)

// The stack's identity material lives in <Dir>/auth and is kept between
// runs of a kept Dir (make run), so tokens and refresh tokens survive a
// restart, like the databases do.
const (
	signingKeysFile  = "signing-keys.json"
	clientSecretSize = 32 // bytes; as hex, the secret a service sends
)

// serviceClients are the services that call their peers with a service
// token of their own (client credentials): order (user, billing,
// notification) and notification (billing's GetAccount). Each has a
// secret file <name>-client-secret and an AUTH_CLIENTS entry.
var serviceClients = []string{"order", "notification"}

// secretFile is the name of client's secret file.
func secretFile(client string) string { return client + "-client-secret" }

// authFiles is what the processes are told about identity.
type authFiles struct {
	signingKeys string            // the user service's private JWK Set
	secrets     map[string]string // client → file holding its secret
	hashes      map[string]string // client → sha256 hex of it, the user service's AUTH_CLIENTS entry
}

// clients is the user service's AUTH_CLIENTS: name=<sha256 hex>, in the
// order of serviceClients.
func (a authFiles) clients() string {
	var entries []string
	for _, c := range serviceClients {
		entries = append(entries, c+"="+a.hashes[c])
	}
	return strings.Join(entries, ",")
}

// prepareAuth creates or reuses the signing key file and the client
// secrets of serviceClients under dir. The key file is made by the user
// binary's own `keygen` (bin/user), so the stack writes exactly the format
// the user service reads without the platform module depending on the
// user module (which depends on it). A secret is 32 random bytes as hex.
func prepareAuth(ctx context.Context, dir, bin string, out io.Writer) (authFiles, error) {
	a := authFiles{signingKeys: filepath.Join(dir, signingKeysFile), secrets: map[string]string{}, hashes: map[string]string{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return a, fmt.Errorf("auth folder: %w", err)
	}
	if _, err := os.Stat(a.signingKeys); errors.Is(err, fs.ErrNotExist) {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "user"), "keygen", "-out", a.signingKeys)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return a, fmt.Errorf("user keygen -out %s: %w", a.signingKeys, err)
		}
	} else if err != nil {
		return a, fmt.Errorf("signing keys: %w", err)
	}
	for _, c := range serviceClients {
		path := filepath.Join(dir, secretFile(c))
		secret, err := clientSecret(path)
		if err != nil {
			return a, err
		}
		sum := sha256.Sum256([]byte(secret))
		a.secrets[c], a.hashes[c] = path, hex.EncodeToString(sum[:])
	}
	return a, nil
}

// clientSecret reads the secret at path, first writing a fresh one (mode
// 0600) when the file does not exist.
func clientSecret(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		b := make([]byte, clientSecretSize)
		_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
		_, werr := f.WriteString(hex.EncodeToString(b) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return "", fmt.Errorf("write client secret: %w", werr)
		}
	case !errors.Is(err, fs.ErrExist):
		return "", fmt.Errorf("client secret: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("client secret: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("client secret file %s is empty; delete it to get a new one", path)
	}
	return secret, nil
}

// GrantAdmin gives the live user username the admin role from its next
// login, as an operator does: by running the built user binary's
// `grant-admin` against the user database (the platform module cannot
// import the user module's store). The role is never granted by
// registration, so register the account first.
func (s *Stack) GrantAdmin(ctx context.Context, username string) error {
	return s.runGrantAdmin(ctx, username)
}

// RevokeAdmin takes the admin role away from the next login or refresh.
func (s *Stack) RevokeAdmin(ctx context.Context, username string) error {
	return s.runGrantAdmin(ctx, username, "-revoke")
}

func (s *Stack) runGrantAdmin(ctx context.Context, username string, extra ...string) error {
	args := append([]string{"grant-admin", "-database-url", s.DatabaseURL("user"), "-username", username}, extra...)
	cmd := exec.CommandContext(ctx, s.UserBinary(), args...)
	// Only the URL from the flag: a DATABASE_URL in the caller's shell
	// must not point the grant at another database.
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("user grant-admin -username %s %s: %w: %s", username, strings.Join(extra, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// UserBinary is the path of the stack's built user binary, the one to run
// `grant-admin` with by hand.
func (s *Stack) UserBinary() string { return filepath.Join(s.bin, "user") }

// RevocationURL is the user service's list of revoked subjects, served
// next to its JWKS.
func (s *Stack) RevocationURL() string { return s.AdminURL("user") + auth.RevocationPath }

// authEnv holds the identity settings of the whole stack.
type authEnv struct {
	issuer        string // the gateway's base URL: the tokens' iss
	jwksURL       string // the user service's admin listener
	revocationURL string // on the same listener
	files         authFiles
}

// settings are component name's identity variables. Every process
// verifies tokens against the same issuer and key set; only the user
// service holds the signing keys and knows the clients, and only the
// services that call peers with client credentials (order, notification)
// get a secret, each its own.
func (a authEnv) settings(name string) []string {
	env := []string{
		"AUTH_ISSUER=" + a.issuer,
		"AUTH_AUDIENCE=" + auth.DefaultAudience,
		"AUTH_JWKS_URL=" + a.jwksURL,
		// Set, not derived: the stack's JWKS URL is not the default one,
		// so without it no process would check deleted users' tokens.
		"AUTH_REVOCATION_URL=" + a.revocationURL,
	}
	switch name {
	case "user":
		env = append(env,
			"AUTH_SIGNING_KEYS="+a.files.signingKeys,
			"AUTH_CLIENTS="+a.files.clients())
	case "order", "notification":
		env = append(env,
			"AUTH_CLIENT_ID="+name,
			"AUTH_CLIENT_SECRET_FILE="+a.files.secrets[name],
			// The service refuses both a secret and a file: clear one
			// the caller's shell may carry.
			"AUTH_CLIENT_SECRET=")
	case "gateway":
		env = append(env, "JWKS_SOURCE_URL="+a.jwksURL)
	}
	return env
}
