package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/testinfra/pgtest"
	"github.com/parley-im/parley/internal/testinfra/rabbittest"
	parley "github.com/parley-im/parley/sdk/go"
)

// pg is the package's PostgreSQL server; each test takes databases of
// its own from it.
var pg *pgtest.Server

// rmq is the package's RabbitMQ broker, shared by the tests' clusters
// (each node's queue is its own; topics carry conversation and user ids,
// which the tests make unique per test).
var rmq *rabbittest.Server

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	r, err := rabbittest.Start(ctx, rabbittest.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster tests: could not start RabbitMQ:", err)
		os.Exit(1)
	}
	rmq = r
	code := pgtest.Main(m, &pg)
	r.Stop()
	os.Exit(code)
}

// signingKey is the token signing key every node of a test shares, as
// the nodes of a cluster must.
const signingKey = "cluster-test-signing-key-0123456789abcdef"

// adminKey is the admin key of every node.
const adminKey = "cluster-test-admin-key-0123456789abcdef"

// node is one Parley server of a test's cluster.
type node struct {
	t   *testing.T
	app *app.App
	cfg config.Config
	URL string
}

// nodeConfig is the configuration of a node on the PostgreSQL database at
// dsn, with short waits for tests. The test server runs with fsync off,
// which the store refuses unless told that the loss is accepted
// (store.unsafe).
func nodeConfig(t *testing.T, dsn string) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.MQTT.Addr = "127.0.0.1:0"
	cfg.Store.Driver = "postgres"
	cfg.Store.PostgresURL = dsn
	cfg.Store.Unsafe = true
	cfg.Auth.SigningKey = signingKey
	cfg.Auth.AdminKey = adminKey
	cfg.Timeouts.AuthDeadline = 2 * time.Second
	cfg.Timeouts.AckFlushInterval = 20 * time.Millisecond
	cfg.Timeouts.PresenceCoalesce = 50 * time.Millisecond
	cfg.Timeouts.LameDuck = 100 * time.Millisecond
	cfg.Timeouts.ShutdownGrace = 5 * time.Second
	return cfg
}

// clusterConfig is nodeConfig with the RabbitMQ bus: a node of a cluster
// whose nodes share the database at dsn and the package's broker.
func clusterConfig(t *testing.T, dsn string) config.Config {
	cfg := nodeConfig(t, dsn)
	cfg.Bus.Driver = "rabbitmq"
	cfg.Bus.RabbitMQURL = rmq.URL()
	return cfg
}

// names returns user names unique to this test: the tests' clusters
// share one broker, whose user topics carry the names.
func names(base ...string) []string {
	tag := core.NewNodeID()[5:]
	out := make([]string, len(base))
	for i, b := range base {
		out[i] = b + "-" + tag
	}
	return out
}

// twoNodes starts two nodes of a cluster on a new database and creates
// users named after base, unique to the test (names); it returns the
// nodes and the names.
func twoNodes(t *testing.T, base ...string) (a, b *node, users []string) {
	t.Helper()
	dsn := pg.NewDatabase(t)
	a = startNode(t, clusterConfig(t, dsn))
	b = startNode(t, clusterConfig(t, dsn))
	users = names(base...)
	for _, n := range users {
		a.user(n)
	}
	return a, b, users
}

// startNode starts a node with cfg; it stops at the end of the test
// unless stopped before.
func startNode(t *testing.T, cfg config.Config) *node {
	t.Helper()
	a, err := app.Start(context.Background(), cfg, testLogger())
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	n := &node{t: t, app: a, cfg: cfg, URL: "http://" + a.Addr()}
	t.Cleanup(n.stop)
	return n
}

// stop shuts the node down; later calls do nothing.
func (n *node) stop() {
	if n.app == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.app.Shutdown(ctx); err != nil {
		n.t.Errorf("shutdown: %v", err)
	}
	n.app = nil
}

func testLogger() *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// metric returns the value of the unlabelled metric name on the node's
// /metrics; the test fails if it is not there.
func (n *node) metric(name string) float64 {
	n.t.Helper()
	req, err := http.NewRequestWithContext(ctxT(n.t), "GET", n.URL+"/metrics", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		n.t.Fatalf("GET /metrics: %d, %v", res.StatusCode, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				n.t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	n.t.Fatalf("no %s in /metrics", name)
	return 0
}

// user creates a user with the password "password-<name>".
func (n *node) user(name string) {
	n.t.Helper()
	if _, err := n.app.Core().CreateUser(context.Background(), name, "password-"+name, ""); err != nil {
		n.t.Fatalf("create user %s: %v", name, err)
	}
}

// login signs a user in on a device through this node.
func (n *node) login(name, device string) *parley.API {
	n.t.Helper()
	api := &parley.API{BaseURL: n.URL}
	tok, err := api.Login(ctxT(n.t), name, "password-"+name, device)
	if err != nil {
		n.t.Fatalf("login %s/%s: %v", name, device, err)
	}
	api.Token = tok.AccessToken
	return api
}

// dial connects an SDK client for a user's device to this node.
func (n *node) dial(name, device string) *parley.Client {
	n.t.Helper()
	api := n.login(name, device)
	c, err := parley.Dial(ctxT(n.t), parley.Options{URL: n.URL, Token: api.Token,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	if err != nil {
		n.t.Fatalf("dial %s/%s: %v", name, device, err)
	}
	n.t.Cleanup(func() { c.Close() })
	return c
}
