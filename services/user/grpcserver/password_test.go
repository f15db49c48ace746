package grpcserver_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/user/app"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
)

// syncBuffer is a log sink the service may write from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The password goes in and only its argon2id hash stays: not in the
// response, not in the row, not in the logs — also when billing fails and
// the service logs the pending user.
func TestCreateUser_Password_OnlyItsHashIsStored(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, app.Config{Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	const secret = "s3cret-Horse-battery"
	in := newUser("ada")
	in.Password = secret
	u, err := e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: in, RequestId: "r-ada"})
	if err != nil {
		t.Fatal(err)
	}
	if u.GetPassword() != "" || strings.Contains(protojson.Format(u), secret) {
		t.Fatalf("CreateUser response carries the password: %v", u)
	}
	got, err := e.users.GetUser(context.Background(), &userv1.GetUserRequest{Id: u.GetId()})
	if err != nil || got.GetPassword() != "" {
		t.Fatalf("GetUser = %v, %v; want no password", got, err)
	}

	e.billing.setFailCreate(1)
	bob := newUser("bob")
	bob.Password = secret
	_, err = e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: bob, RequestId: "r-bob"})
	wantCode(t, err, codes.Unavailable)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error %v carries the password", err)
	}

	var rows []string
	if err := e.db.Select(&rows, `SELECT row_to_json(u)::text FROM users u WHERE username <> 'op.admin' ORDER BY create_time`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("users = %d, want 2", len(rows))
	}
	for _, r := range rows {
		if strings.Contains(r, secret) || !strings.Contains(r, `"password_hash":"$argon2id$v=19$m=19456,t=2,p=1$`) {
			t.Fatalf("stored row %s: want an argon2id hash and no plaintext", r)
		}
	}
	if logs.String() == "" {
		t.Fatal("the failing billing call logged nothing; the log check below would prove nothing")
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("logs carry the password:\n%s", logs.String())
	}
}

// Registration without a password is refused (a user who cannot log in is
// of no use) and stores nothing.
func TestCreateUser_NoPassword_InvalidArgumentNamingField(t *testing.T) {
	e := newEnv(t)
	in := newUser("ada")
	in.Password = ""
	_, err := e.users.CreateUser(context.Background(), &userv1.CreateUserRequest{User: in, RequestId: "r-ada"})
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "user.password") {
		t.Fatalf("err = %v, want it to name user.password", err)
	}
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM users WHERE username = 'ada'`); err != nil || n != 0 {
		t.Fatalf("users named ada = %d, %v; want 0", n, err)
	}
	if e.billing.accountCount() != 0 {
		t.Fatal("a refused registration opened an account")
	}
}
