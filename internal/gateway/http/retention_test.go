package httpapi

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/core"
)

func TestParseMaxAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want time.Duration
		ok   bool
	}{
		{`"720h"`, 720 * time.Hour, true},
		{`"1h30m"`, 90 * time.Minute, true},
		{`"0s"`, 0, true},
		{`0`, 0, true},
		{`2592000`, 720 * time.Hour, true},
		{` 60 `, time.Minute, true},
		{`"200ms"`, 200 * time.Millisecond, true}, // the core refuses it with a reason
		{`"-1s"`, -time.Second, true},             // likewise
		{`-5`, 0, false},
		{`1.5`, 0, false},
		{`1e3`, 0, false},
		{`"soon"`, 0, false},
		{`"720"`, 0, false},
		{`true`, 0, false},
		{`{}`, 0, false},
		{`null`, 0, false},
		{``, 0, false},
		{`9223372036854775807`, 0, false}, // seconds that overflow a Duration
	}
	for _, tt := range tests {
		got, err := parseMaxAge(json.RawMessage(tt.raw))
		if !tt.ok {
			var fe *core.FieldError
			if !errors.As(err, &fe) || fe.Field != "max_age" {
				t.Errorf("parseMaxAge(%s) = %v, %v; want a max_age field error", tt.raw, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseMaxAge(%s) = %v, %v; want %v", tt.raw, got, err, tt.want)
		}
	}
}
