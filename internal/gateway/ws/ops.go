package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/gateway/jsonlimit"
	"github.com/parley-im/parley/protocol"
)

// opHandler serves one op of moreOps: it replies through s.cl itself and
// returns an error to be answered with ReplyError instead.
type opHandler func(s *session, ctx context.Context, req *protocol.Request) error

// moreOps are the ops served outside handle's switch: those of the social
// graph, whose arguments are in the request's data object. Each feature's
// file registers its ops in an init function; the table is read-only once
// the package is initialized.
var moreOps = map[string]opHandler{}

// registerOps adds ops to moreOps; a name registered twice, or one of
// handle's own ops, is a programming error.
func registerOps(ops map[string]opHandler) {
	for name, h := range ops {
		if moreOps[name] != nil || knownOps[name] {
			panic("ws: op " + name + " registered twice")
		}
		moreOps[name] = h
	}
}

// maxDataDepth bounds data's nesting for the duplicate check; the whole
// frame's depth limit applies before it.
const maxDataDepth = 64

// decodeData decodes a request's data object into v (a pointer to a
// struct), refusing unknown and duplicated fields, so that a client's misspelt argument
// is an error instead of a silent default. A missing data object decodes
// as {}.
func decodeData(req *protocol.Request, v any) error {
	data := req.Data
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		data = []byte("{}")
	}
	// The frame's depth was checked whole (decodeLimited); the keys of
	// data are checked for duplicates here, as the frame's own are.
	var dup *jsonlimit.DuplicateKeyError
	if errors.As(jsonlimit.Check(data, maxDataDepth, jsonlimit.FieldsOf(v)), &dup) {
		return &core.FieldError{Field: "data." + dup.Field, Reason: "appears more than once (keys match case-insensitively)"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &core.FieldError{Field: "data." + te.Field, Reason: fmt.Sprintf("must be %s", te.Type)}
		}
		return &core.FieldError{Field: "data", Reason: "must be a JSON object of this op's arguments: " + err.Error()}
	}
	return nil
}
