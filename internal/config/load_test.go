package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// writeConfig writes content to a config file in a temporary directory.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	const file = `
data_dir: /from/file
http:
  addr: 127.0.0.1:1001
  allowed_origins: [https://file.example]
log:
  level: debug
timeouts:
  auth_deadline: 3s
`
	tests := []struct {
		name  string
		file  string
		env   []string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{
			name: "defaults only",
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c, Default()) {
					t.Errorf("got %+v, want Default()", c)
				}
			},
		},
		{
			name: "file over defaults",
			file: file,
			check: func(t *testing.T, c Config) {
				want := Default()
				want.DataDir = "/from/file"
				want.HTTP.Addr = "127.0.0.1:1001"
				want.HTTP.AllowedOrigins = []string{"https://file.example"}
				want.Log.Level = "debug"
				want.Timeouts.AuthDeadline = 3 * time.Second
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "env over file",
			file: file,
			env: []string{
				"PARLEY_DATA_DIR=/from/env",
				"PARLEY_HTTP_ALLOWED_ORIGINS=https://a.example, https://b.example,,",
				"PARLEY_TIMEOUTS_AUTH_DEADLINE=4s",
				"PARLEY_AUTH_ALLOW_REGISTRATION=false",
				"PARLEY_LIMITS_HISTORY_PAGE_MAX=50",
				"PARLEY_CONFIG=/ignored.yaml",
				"PARLEY_TEST_POSTGRES_URL=postgres://ignored",
				"HOME=/root",
				"NOEQUALS",
			},
			check: func(t *testing.T, c Config) {
				if c.DataDir != "/from/env" || c.HTTP.Addr != "127.0.0.1:1001" || c.Log.Level != "debug" {
					t.Errorf("data_dir %q http.addr %q log.level %q", c.DataDir, c.HTTP.Addr, c.Log.Level)
				}
				if want := []string{"https://a.example", "https://b.example"}; !reflect.DeepEqual(c.HTTP.AllowedOrigins, want) {
					t.Errorf("allowed_origins %q, want %q", c.HTTP.AllowedOrigins, want)
				}
				if c.Timeouts.AuthDeadline != 4*time.Second || c.Auth.AllowRegistration || c.Limits.HistoryPageMax != 50 {
					t.Errorf("auth_deadline %v allow_registration %v history_page_max %d",
						c.Timeouts.AuthDeadline, c.Auth.AllowRegistration, c.Limits.HistoryPageMax)
				}
			},
		},
		{
			name: "flags over env",
			file: file,
			env:  []string{"PARLEY_DATA_DIR=/from/env", "PARLEY_HTTP_ADDR=127.0.0.1:2002", "PARLEY_MQTT_ADDR=127.0.0.1:2883"},
			args: []string{"--data-dir=/from/flag", "--log-level", "warn"},
			check: func(t *testing.T, c Config) {
				if c.DataDir != "/from/flag" || c.Log.Level != "warn" {
					t.Errorf("flag not applied: data_dir %q log.level %q", c.DataDir, c.Log.Level)
				}
				if c.HTTP.Addr != "127.0.0.1:2002" || c.MQTT.Addr != "127.0.0.1:2883" {
					t.Errorf("unset flag overrode env: http.addr %q mqtt.addr %q", c.HTTP.Addr, c.MQTT.Addr)
				}
			},
		},
		{
			name: "all flags",
			args: []string{"--data-dir=/d", "--http-addr=:1", "--mqtt-addr=:2", "--log-level=error"},
			check: func(t *testing.T, c Config) {
				if c.DataDir != "/d" || c.HTTP.Addr != ":1" || c.MQTT.Addr != ":2" || c.Log.Level != "error" {
					t.Errorf("got %q %q %q %q", c.DataDir, c.HTTP.Addr, c.MQTT.Addr, c.Log.Level)
				}
			},
		},
		{
			name: "empty file, null values and aliases",
			file: "limits:\n  max_message_bytes: &n 1000\n  history_page_max: *n\nhttp:\n  tls_cert: ~\n  allowed_origins:\nstore:\n",
			check: func(t *testing.T, c Config) {
				if c.Limits.MaxMessageBytes != 1000 || c.Limits.HistoryPageMax != 1000 {
					t.Errorf("anchor/alias: %d %d", c.Limits.MaxMessageBytes, c.Limits.HistoryPageMax)
				}
				if c.Store != Default().Store || c.HTTP.AllowedOrigins != nil {
					t.Errorf("null section or list changed values: %+v %q", c.Store, c.HTTP.AllowedOrigins)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			flagSet := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			flags := BindFlags(flagSet)
			if err := flagSet.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			flags.Apply(&c)
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		env  []string
		want []string // substrings the error must contain
	}{
		{"unknown top-level key", "data_dir: x\ndatadir: y\n", nil,
			[]string{`:2: unknown key "datadir"`, "did you mean data_dir?"}},
		{"unknown nested keys, all named", "http:\n  adr: x\n  port: 1\nauth:\n  external:\n    issuerr: z\n", nil,
			[]string{`:2: unknown key "http.adr"`, `:3: unknown key "http.port"`, `:6: unknown key "auth.external.issuerr"`}},
		{"bad duration", "timeouts:\n  auth_deadline: 10 seconds\n", nil,
			[]string{`:2: timeouts.auth_deadline: invalid duration "10 seconds"`}},
		{"integer duration", "auth:\n  access_ttl: 10\n", nil,
			[]string{`auth.access_ttl: invalid duration "10"`}},
		{"bad integer", "limits:\n  max_message_bytes: 64KiB\n", nil,
			[]string{`:2: limits.max_message_bytes: invalid integer`}},
		{"bad boolean", "store:\n  unsafe: maybe\n", nil,
			[]string{`store.unsafe: invalid boolean "maybe"`}},
		{"scalar for list", "http:\n  allowed_origins: https://x.example\n", nil,
			[]string{`http.allowed_origins: want a list`}},
		{"list for scalar", "data_dir: [a, b]\n", nil,
			[]string{`:1: data_dir: want a single value`}},
		{"scalar for section", "http: 8080\n", nil,
			[]string{`:1: http: want a mapping`}},
		{"repeated key", "log:\n  level: info\n  level: debug\n", nil,
			[]string{`:3: log.level: repeated key (first set on line 2)`}},
		{"two documents", "data_dir: a\n---\ndata_dir: b\n", nil,
			[]string{"want one YAML document"}},
		{"syntax error", "http:\n  addr: [\n", nil,
			[]string{"parley.yaml"}},
		{"unknown env var", "", []string{"PARLEY_HTTP_ADR=:1"},
			[]string{"PARLEY_HTTP_ADR: no such setting", "did you mean PARLEY_HTTP_ADDR?"}},
		{"env var naming a section", "", []string{"PARLEY_HTTP=x"},
			[]string{"PARLEY_HTTP: no such setting"}},
		{"bad env duration", "", []string{"PARLEY_TIMEOUTS_PING_INTERVAL=soon"},
			[]string{`PARLEY_TIMEOUTS_PING_INTERVAL (timeouts.ping_interval): invalid duration "soon"`}},
		{"bad env integer", "", []string{"PARLEY_LIMITS_JSON_MAX_DEPTH=deep"},
			[]string{"PARLEY_LIMITS_JSON_MAX_DEPTH"}},
		{"file and env errors together", "nope: 1\n", []string{"PARLEY_NOPE=1"},
			[]string{`unknown key "nope"`, "PARLEY_NOPE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			_, err := Load(path, tt.env)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	if _, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

func TestEnvNames(t *testing.T) {
	t.Parallel()
	names := EnvNames()
	for env, key := range map[string]string{
		"PARLEY_DATA_DIR":               "data_dir",
		"PARLEY_HTTP_ADDR":              "http.addr",
		"PARLEY_AUTH_ADMIN_KEY":         "auth.admin_key",
		"PARLEY_TIMEOUTS_AUTH_DEADLINE": "timeouts.auth_deadline",
		"PARLEY_HTTP_ALLOWED_ORIGINS":   "http.allowed_origins",
		"PARLEY_AUTH_EXTERNAL_ISSUER":   "auth.external.issuer",
	} {
		if names[env] != key {
			t.Errorf("EnvNames()[%s] = %q, want %q", env, names[env], key)
		}
	}
	// Two keys must never map to one variable, and no setting may hide
	// behind the allow-list.
	c := Default()
	fields := leaves(&c)
	if len(names) != len(fields) {
		t.Errorf("%d variables for %d settings: a name collides", len(names), len(fields))
	}
	for env := range names {
		if envAllowed(env) {
			t.Errorf("setting variable %s is on the allow-list", env)
		}
	}
}
