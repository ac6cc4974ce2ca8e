package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{fmt.Errorf("commit: %w", &pgconn.PgError{Code: "40P01"}), true},
		{&pgconn.PgError{Code: "23505", ConstraintName: "messages_conv_seq"}, true},
		{&pgconn.PgError{Code: "23505", ConstraintName: "messages_dedupe"}, true},
		{&pgconn.PgError{Code: "23505", ConstraintName: "users_pkey"}, false}, // a taken id is the caller's conflict
		{&pgconn.PgError{Code: "23502"}, false},
		{errors.New("40001"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestBytesForStrings(t *testing.T) {
	in := []any{"a\\x41\x00", int64(7), []byte("b"), nil}
	out := bytesForStrings(in)
	if b, ok := out[0].([]byte); !ok || !bytes.Equal(b, []byte("a\\x41\x00")) {
		t.Fatalf("string became %#v", out[0])
	}
	if out[1] != int64(7) || !bytes.Equal(out[2].([]byte), []byte("b")) || out[3] != nil {
		t.Fatalf("others changed: %#v", out)
	}
	if in[0] != "a\\x41\x00" {
		t.Fatal("the caller's arguments changed")
	}
	noStrings := []any{int64(1)}
	if got := bytesForStrings(noStrings); &got[0] != &noStrings[0] {
		t.Fatal("arguments without strings were copied")
	}
}
