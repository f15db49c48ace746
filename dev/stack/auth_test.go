package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// envValue is the value a process sees for key: the last entry wins.
func envValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestAuthEnv_EachComponentGetsOnlyItsSecrets(t *testing.T) {
	a := authEnv{
		issuer:        "http://127.0.0.1:8080",
		jwksURL:       "http://127.0.0.1:9101/.well-known/jwks.json",
		revocationURL: "http://127.0.0.1:9101/.well-known/revoked-subjects.json",
		files: authFiles{signingKeys: "/d/auth/signing-keys.json",
			secrets: map[string]string{"order": "/d/auth/order-client-secret", "notification": "/d/auth/notification-client-secret"},
			hashes:  map[string]string{"order": strings.Repeat("ab", 32), "notification": strings.Repeat("cd", 32)}},
	}
	shared := map[string]string{"AUTH_ISSUER": a.issuer, "AUTH_AUDIENCE": "kassa", "AUTH_JWKS_URL": a.jwksURL,
		"AUTH_REVOCATION_URL": a.revocationURL}
	tests := []struct {
		component string
		want      map[string]string // besides shared
	}{
		{"billing", nil},
		{"notification", map[string]string{
			"AUTH_CLIENT_ID":          "notification",
			"AUTH_CLIENT_SECRET_FILE": "/d/auth/notification-client-secret",
			"AUTH_CLIENT_SECRET":      "",
		}},
		{"user", map[string]string{
			"AUTH_SIGNING_KEYS": a.files.signingKeys,
			"AUTH_CLIENTS":      "order=" + strings.Repeat("ab", 32) + ",notification=" + strings.Repeat("cd", 32),
		}},
		{"order", map[string]string{
			"AUTH_CLIENT_ID":          "order",
			"AUTH_CLIENT_SECRET_FILE": "/d/auth/order-client-secret",
			"AUTH_CLIENT_SECRET":      "",
		}},
		{"gateway", map[string]string{"JWKS_SOURCE_URL": a.jwksURL}},
	}
	for _, tt := range tests {
		t.Run(tt.component, func(t *testing.T) {
			got := a.settings(tt.component)
			want := map[string]string{}
			for k, v := range shared {
				want[k] = v
			}
			for k, v := range tt.want {
				want[k] = v
			}
			if len(got) != len(want) {
				t.Errorf("settings = %q; want exactly %v", got, want)
			}
			for k, v := range want {
				if g, ok := envValue(got, k); !ok || g != v {
					t.Errorf("%s = %q (set %v), want %q", k, g, ok, v)
				}
			}
		})
	}
}

// The stack's settings come after the caller's environment, so an
// AUTH_CLIENT_SECRET or AUTH_ISSUER in the shell running make run does
// not clash with the stack's own.
func TestStackEnv_OverridesCallersAuthSettings(t *testing.T) {
	s := &Stack{components: Components(), opts: Options{LogFmt: "text"},
		auth: authFiles{signingKeys: "/k", secrets: map[string]string{"order": "/s", "notification": "/n"}, hashes: map[string]string{"order": "h", "notification": "i"}}}
	t.Setenv("AUTH_CLIENT_SECRET", "from-the-shell")
	t.Setenv("AUTH_ISSUER", "http://elsewhere")
	t.Setenv("AUTH_REVOCATION_URL", "http://elsewhere/revoked.json")
	user, _ := s.component("user")
	if _, ok := envValue(s.env(user), "AUTH_ADMINS"); ok {
		t.Errorf("user env sets AUTH_ADMINS; admin is granted with GrantAdmin, never by name")
	}
	for _, name := range []string{"order", "notification"} {
		c, _ := s.component(name)
		if v, _ := envValue(s.env(c), "AUTH_CLIENT_SECRET"); v != "" {
			t.Errorf("%s AUTH_CLIENT_SECRET = %q, want it cleared", name, v)
		}
	}
	for _, c := range s.components {
		if v, _ := envValue(s.env(c), "AUTH_ISSUER"); v != s.BaseURL() {
			t.Errorf("%s AUTH_ISSUER = %q, want the gateway's %q", c.Name, v, s.BaseURL())
		}
		if v, _ := envValue(s.env(c), "AUTH_JWKS_URL"); v != s.AdminURL("user")+"/.well-known/jwks.json" {
			t.Errorf("%s AUTH_JWKS_URL = %q, want the user admin listener's", c.Name, v)
		}
		if v, _ := envValue(s.env(c), "AUTH_REVOCATION_URL"); v != s.AdminURL("user")+"/.well-known/revoked-subjects.json" {
			t.Errorf("%s AUTH_REVOCATION_URL = %q, want the user admin listener's", c.Name, v)
		}
	}
}

// fakeKeygen is a bin folder whose user binary records its arguments and
// writes the file named by -out, as `user keygen -out <path>` does.
func fakeKeygen(t *testing.T) (bin, calls string) {
	t.Helper()
	bin = t.TempDir()
	calls = filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + calls + "\n[ \"$1 $2\" = 'keygen -out' ] && echo '{\"keys\":[]}' > \"$3\"\n"
	if err := os.WriteFile(filepath.Join(bin, "user"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, calls
}

func TestPrepareAuth_CreatesOnceThenReuses(t *testing.T) {
	bin, calls := fakeKeygen(t)
	dir := filepath.Join(t.TempDir(), "auth")
	first, err := prepareAuth(context.Background(), dir, bin, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if first.signingKeys != filepath.Join(dir, "signing-keys.json") {
		t.Errorf("signing keys at %q, want under %s", first.signingKeys, dir)
	}
	if _, err := os.Stat(first.signingKeys); err != nil {
		t.Errorf("no key file after prepareAuth: %v", err)
	}
	seen := map[string]string{} // secret → client
	for _, client := range []string{"order", "notification"} {
		path := first.secrets[client]
		if path != filepath.Join(dir, client+"-client-secret") {
			t.Errorf("%s secret at %q, want %s-client-secret under %s", client, path, client, dir)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s secret file mode %v, %v; want 0600", client, fi.Mode(), err)
		}
		b, _ := os.ReadFile(path)
		secret := strings.TrimSpace(string(b))
		if raw, err := hex.DecodeString(secret); err != nil || len(raw) != 32 {
			t.Errorf("%s secret %q: want 32 bytes as hex (%v)", client, secret, err)
		}
		sum := sha256.Sum256([]byte(secret))
		if first.hashes[client] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s hash %q is not the sha256 hex of the secret", client, first.hashes[client])
		}
		if other, ok := seen[secret]; ok {
			t.Errorf("%s and %s share a secret", other, client)
		}
		seen[secret] = client
	}

	second, err := prepareAuth(context.Background(), dir, bin, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, first) {
		t.Errorf("second prepareAuth = %+v, want the same files and secret %+v", second, first)
	}
	got, _ := os.ReadFile(calls)
	if lines := strings.Split(strings.TrimSpace(string(got)), "\n"); !slices.Equal(lines, []string{"keygen -out " + first.signingKeys}) {
		t.Errorf("user was run as %q; want one keygen, the key file reused after", lines)
	}
}

func TestPrepareAuth_Refuses(t *testing.T) {
	t.Run("keygen fails", func(t *testing.T) {
		bin := t.TempDir()
		if err := os.WriteFile(filepath.Join(bin, "user"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := prepareAuth(context.Background(), t.TempDir(), bin, io.Discard); err == nil || !strings.Contains(err.Error(), "keygen") {
			t.Errorf("prepareAuth = %v, want the keygen failure", err)
		}
	})
	t.Run("empty secret file", func(t *testing.T) {
		bin, _ := fakeKeygen(t)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, secretFile("notification")), []byte("\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := prepareAuth(context.Background(), dir, bin, io.Discard); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("prepareAuth = %v, want the empty secret named", err)
		}
	})
}

// GrantAdmin and RevokeAdmin run the built user binary's grant-admin
// against the user database, with the caller's DATABASE_URL cleared; a
// failure (an unknown user) comes back with the command's own message.
func TestGrantAdmin_RunsUserBinaryAgainstUserDatabase(t *testing.T) {
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$* env=$DATABASE_URL\" >> " + calls + "\n" +
		"[ \"$5\" = nobody ] && { echo 'grant-admin: user not found: no live user has username \"nobody\"' >&2; exit 1; }\necho 0000\n"
	if err := os.WriteFile(filepath.Join(bin, "user"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", "postgres://elsewhere/other")
	s := &Stack{bin: bin, dbURLs: map[string]string{"user": "postgres://127.0.0.1:5432/user_db"}}
	ctx := context.Background()
	if s.UserBinary() != filepath.Join(bin, "user") {
		t.Errorf("UserBinary = %q, want %s", s.UserBinary(), filepath.Join(bin, "user"))
	}
	if err := s.GrantAdmin(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAdmin(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	err := s.GrantAdmin(ctx, "nobody")
	if err == nil || !strings.Contains(err.Error(), `no live user has username "nobody"`) {
		t.Errorf("GrantAdmin(nobody) = %v, want the command's message", err)
	}
	got, _ := os.ReadFile(calls)
	want := []string{
		"grant-admin -database-url postgres://127.0.0.1:5432/user_db -username alice env=",
		"grant-admin -database-url postgres://127.0.0.1:5432/user_db -username alice -revoke env=",
		"grant-admin -database-url postgres://127.0.0.1:5432/user_db -username nobody env=",
	}
	if lines := strings.Split(strings.TrimSpace(string(got)), "\n"); !slices.Equal(lines, want) {
		t.Errorf("user was run as %q, want %q", lines, want)
	}
}
