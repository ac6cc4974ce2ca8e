package ws

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

func TestDecodeData(t *testing.T) {
	t.Parallel()
	type args struct {
		User   string `json:"user"`
		Accept *bool  `json:"accept"`
	}
	for _, tc := range []struct {
		data  string
		field string // "" = accepted
	}{
		{``, ""},
		{`null`, ""},
		{`{"user":"bob","accept":true}`, ""},
		{`{"user":"bob","usr":"x"}`, "data"},
		{`{"user":1}`, "data.user"},
		{`{"user":"a","USER":"b"}`, "data.user"},
		{`[1]`, "data"},
	} {
		var a args
		err := decodeData(&protocol.Request{Data: json.RawMessage(tc.data)}, &a)
		var fe *core.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("decodeData(%s) = %v, want accepted", tc.data, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("decodeData(%s) = %v, want a field error on %s", tc.data, err, tc.field)
		}
	}
}
