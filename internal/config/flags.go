package config

import "github.com/spf13/pflag"

// Flags holds the operator flags registered by BindFlags. Only flags given
// on the command line are applied, so an unset flag never hides a value from
// the file or the environment.
type Flags struct {
	fs       *pflag.FlagSet
	dataDir  string
	httpAddr string
	mqttAddr string
	logLevel string
}

// BindFlags registers --data-dir, --http-addr, --mqtt-addr and --log-level
// on fs; the help text shows the built-in defaults. The --config flag is the
// CLI's own.
func BindFlags(fs *pflag.FlagSet) *Flags {
	d := Default()
	f := &Flags{fs: fs}
	fs.StringVar(&f.dataDir, "data-dir", d.DataDir, "directory for Parley's data (overrides data_dir and PARLEY_DATA_DIR)")
	fs.StringVar(&f.httpAddr, "http-addr", d.HTTP.Addr, "HTTP and WebSocket listen address host:port (overrides http.addr and PARLEY_HTTP_ADDR)")
	fs.StringVar(&f.mqttAddr, "mqtt-addr", d.MQTT.Addr, "MQTT over TCP listen address host:port (port 0 picks a free port, empty turns it off)")
	fs.StringVar(&f.logLevel, "log-level", d.Log.Level, "debug, info, warn or error (overrides log.level and PARLEY_LOG_LEVEL)")
	return f
}

// BindDataDirFlag registers only --data-dir on fs: the one operator flag of
// the commands that work on the data directory without serving (a flag
// they would ignore is not offered).
func BindDataDirFlag(fs *pflag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.dataDir, "data-dir", Default().DataDir, "directory for Parley's data (overrides data_dir and PARLEY_DATA_DIR)")
	return f
}

// Apply copies the flags that were set on the command line into c (a flag
// that was not registered is never set). Call it after Load and before
// Validate, once the flag set has been parsed.
func (f *Flags) Apply(c *Config) {
	set := func(name string, dst *string, v string) {
		if f.fs.Changed(name) {
			*dst = v
		}
	}
	set("data-dir", &c.DataDir, f.dataDir)
	set("http-addr", &c.HTTP.Addr, f.httpAddr)
	set("mqtt-addr", &c.MQTT.Addr, f.mqttAddr)
	set("log-level", &c.Log.Level, f.logLevel)
}
