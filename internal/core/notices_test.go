package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/bus/local"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// noticeEnv is a running core on a SQLite file whose store can be wrapped.
type noticeEnv struct {
	t      *testing.T
	db     *sqlite.DB
	c      *Core
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

var noticeT0 = time.UnixMilli(1_767_225_600_000)

func openNoticeDB(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startNoticeCore runs a core on st (wrap: a store around db, or nil).
func startNoticeCore(t *testing.T, db *sqlite.DB, wrap func(store.Store) store.Store, opt NoticeOptions) *noticeEnv {
	t.Helper()
	var st store.Store = db
	if wrap != nil {
		st = wrap(db)
	}
	signer, err := auth.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := noticeT0.Add(time.Hour)
	c, err := New(Options{
		Store: st, Bus: local.New(), Signer: signer,
		Now:    func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Millisecond); return now },
		Limits: Limits{MaxMessageBytes: 1 << 16, HistoryPageMax: 100, OutboundQueueMessages: 1000, OutboundQueueBytes: 1 << 24},
		Timeouts: Timeouts{AccessTTL: time.Hour, RefreshTTL: 2 * time.Hour, AckFlushInterval: 10 * time.Millisecond,
			PresenceCoalesce: 10 * time.Millisecond, WriteTimeout: 5 * time.Second},
		Notices: opt,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &noticeEnv{t: t, db: db, c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- c.Run(ctx) }()
	t.Cleanup(e.stop)
	return e
}

// stop ends the core's Run and waits for it (idempotent).
func (e *noticeEnv) stop() {
	e.once.Do(func() {
		e.cancel()
		if err := <-e.done; err != nil {
			e.t.Errorf("run: %v", err)
		}
	})
}

// tagUsers creates users u000..u(n-1), each tagged by tag(i).
func tagUsers(t *testing.T, st store.Store, n int, tag func(i int) map[string]string) []string {
	t.Helper()
	var users []string
	var changes []store.TagChange
	for i := range n {
		u := fmt.Sprintf("u%03d", i)
		users = append(users, u)
		changes = append(changes, store.TagChange{User: u, Create: true, Set: tag(i)})
	}
	res, err := st.ChangeTags(context.Background(), changes, 0, noticeT0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return users
}

// copiesOf returns, for each user, how many copies of notice id their
// system conversation holds.
func copiesOf(t *testing.T, st store.Store, id string, users []string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, u := range users {
		msgs, err := st.Range(context.Background(), store.SystemConvID(u), 0, 0, 1000, true)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Social != nil && m.Social.Notice == id {
				out[u]++
			}
		}
	}
	return out
}

func waitNotice(t *testing.T, c *Core, id string, cond func(protocol.Notice) bool) protocol.Notice {
	t.Helper()
	var n protocol.Notice
	waitUntil(t, "notice "+id, 20*time.Second, func() bool {
		var err error
		if n, err = c.Notice(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return cond(n)
	})
	return n
}

// chunkLimits records the limit of every chunk asked for.
type chunkLimits struct {
	store.Store
	mu     sync.Mutex
	limits []int
}

func (s *chunkLimits) SendNoticeChunk(ctx context.Context, id string, limit int, delivered int64, now time.Time) ([]store.NoticeCopy, store.Notice, error) {
	s.mu.Lock()
	s.limits = append(s.limits, limit)
	s.mu.Unlock()
	return s.Store.SendNoticeChunk(ctx, id, limit, delivered, now)
}

// TestNoticeReachesEveryTaggedUserOnceInChunks: a notice to region=beijing
// is stored once for each user tagged so, in chunks of at most ChunkUsers,
// reaches a connected device live (counted as delivered), counts as unread,
// and its progress ends at matched = stored.
func TestNoticeReachesEveryTaggedUserOnceInChunks(t *testing.T) {
	t.Parallel()
	db := openNoticeDB(t, filepath.Join(t.TempDir(), "p.db"))
	users := tagUsers(t, db, 250, func(i int) map[string]string {
		if i%5 == 4 {
			return map[string]string{"region": "hangzhou"}
		}
		return map[string]string{"region": "beijing"}
	})
	var rec *chunkLimits
	e := startNoticeCore(t, db, func(s store.Store) store.Store { rec = &chunkLimits{Store: s}; return rec },
		NoticeOptions{ChunkUsers: 40, UsersPerSecond: 100_000})
	ctx := context.Background()

	tr := newFakeTransport()
	cl, err := e.c.Attach(Identity{User: "u001", Device: "phone"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(protocol.CloseShutdown, "test over")
	cl.Resume("r", nil)
	tr.next(t, protocol.TypeResumed)

	n, err := e.c.SendNotice(ctx, "ops", protocol.NoticeRequest{To: "region = beijing", Body: "新年快乐"})
	if err != nil {
		t.Fatal(err)
	}
	if n.To != "region=beijing" || n.State != protocol.NoticeSending || n.Matched != -1 || len(n.Values) != 1 || n.Values[0] != "beijing" {
		t.Fatalf("created %+v", n)
	}
	ev := tr.next(t, protocol.TypeMsg)
	if m := ev.Msg; m.Conv != store.SystemConvID("u001") || m.From != protocol.SystemSender || m.Body != "新年快乐" ||
		m.Social == nil || m.Social.Notice != n.ID || m.Social.Tags != "beijing" {
		t.Fatalf("live copy %+v", m)
	}
	done := waitNotice(t, e.c, n.ID, func(n protocol.Notice) bool { return n.State == protocol.NoticeDone && n.Delivered == 1 })
	if done.Matched != 200 || done.Stored != 200 || done.Skipped != 0 {
		t.Fatalf("done notice %+v", done)
	}
	got := copiesOf(t, db, n.ID, users)
	for i, u := range users {
		want := 1
		if i%5 == 4 {
			want = 0
		}
		if got[u] != want {
			t.Fatalf("%s has %d copies, want %d", u, got[u], want)
		}
	}
	rec.mu.Lock()
	for _, l := range rec.limits {
		if l > 40 || l < 1 {
			t.Errorf("a chunk of %d, ChunkUsers is 40", l)
		}
	}
	rec.mu.Unlock()
	if cv, err := e.c.Conversation(ctx, "u002", store.SystemConvID("u002")); err != nil || cv.Unread != 1 || cv.Kind != protocol.ConvSystem {
		t.Fatalf("u002's system conversation %+v %v, want 1 unread", cv, err)
	}
	// The delivered count reaches the store too.
	waitUntil(t, "delivered stored", 10*time.Second, func() bool {
		s, err := db.Notice(ctx, n.ID)
		return err == nil && s.Delivered == 1
	})
}

// crashingChunks lets after chunks through, then crashes: with
// committed, the next chunk commits and the core never hears of it (a
// kill -9 between the commit and anything after it); otherwise it blocks
// before the store is called (a kill -9 before the commit). Either way
// the core's context is cancelled, as the process would be gone.
type crashingChunks struct {
	store.Store
	after     int
	committed bool
	crash     func()

	mu      sync.Mutex
	n       int
	stored  int64 // copies of the chunks committed
	crashed chan struct{}
}

func (s *crashingChunks) SendNoticeChunk(ctx context.Context, id string, limit int, delivered int64, now time.Time) ([]store.NoticeCopy, store.Notice, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	if n <= s.after || n == s.after+1 && s.committed {
		copies, after, err := s.Store.SendNoticeChunk(ctx, id, limit, delivered, now)
		if err == nil {
			s.mu.Lock()
			s.stored += int64(len(copies))
			s.mu.Unlock()
		}
		if n <= s.after {
			return copies, after, err
		}
	}
	if n == s.after+1 {
		close(s.crashed)
		s.crash()
	}
	<-ctx.Done()
	return nil, store.Notice{}, ctx.Err()
}

// TestNoticeResumesAfterACrash: a core that dies between chunks (after a
// chunk's commit, or before it) leaves a notice that the next core on the
// same store finishes, every user of the audience holding exactly one
// copy, with matched = stored.
func TestNoticeResumesAfterACrash(t *testing.T) {
	t.Parallel()
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "p.db")
			db := openNoticeDB(t, path)
			users := tagUsers(t, db, 120, func(i int) map[string]string {
				return map[string]string{"plan": []string{"pro", "free"}[i%2], "region": "hangzhou"}
			})
			cr := &crashingChunks{after: 3, committed: committed, crashed: make(chan struct{})}
			first := startNoticeCore(t, db, func(s store.Store) store.Store { cr.Store = s; return cr },
				NoticeOptions{ChunkUsers: 10, UsersPerSecond: 100_000})
			cr.crash = first.cancel
			n, err := first.c.SendNotice(context.Background(), "ops", protocol.NoticeRequest{To: "region=hangzhou AND plan=pro", Body: "hi"})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-cr.crashed:
			case <-time.After(20 * time.Second):
				t.Fatal("no crash")
			}
			first.stop()
			before, err := db.Notice(context.Background(), n.ID)
			if err != nil {
				t.Fatal(err)
			}
			cr.mu.Lock()
			wantStored := cr.stored
			cr.mu.Unlock()
			if before.State != store.NoticeSending || before.Matched != 60 || before.Stored != wantStored || wantStored == 0 {
				t.Fatalf("after the crash: %+v, want 60 matched, %d stored", before, wantStored)
			}

			second := startNoticeCore(t, db, nil, NoticeOptions{ChunkUsers: 7, UsersPerSecond: 100_000})
			done := waitNotice(t, second.c, n.ID, func(n protocol.Notice) bool { return n.State == protocol.NoticeDone })
			if done.Matched != 60 || done.Stored != 60 || done.Skipped != 0 {
				t.Fatalf("done after the restart: %+v", done)
			}
			got := copiesOf(t, db, n.ID, users)
			for i, u := range users {
				if want := 1 - i%2; got[u] != want {
					t.Fatalf("%s has %d copies, want %d", u, got[u], want)
				}
			}
		})
	}
}

// TestNoticesArePacedAndLimited: copies are stored no faster than
// UsersPerSecond, and an admin creates at most PerMinute notices a minute.
func TestNoticesArePacedAndLimited(t *testing.T) {
	t.Parallel()
	db := openNoticeDB(t, filepath.Join(t.TempDir(), "p.db"))
	tagUsers(t, db, 120, func(int) map[string]string { return map[string]string{"k": "v"} })
	e := startNoticeCore(t, db, nil, NoticeOptions{ChunkUsers: 20, UsersPerSecond: 200, PerMinute: 2})
	ctx := context.Background()
	start := time.Now()
	n, err := e.c.SendNotice(ctx, "ops", protocol.NoticeRequest{To: "*", Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	waitNotice(t, e.c, n.ID, func(n protocol.Notice) bool { return n.State == protocol.NoticeDone })
	// 120 copies at 200/s: the last chunk of 20 may go without waiting.
	if took := time.Since(start); took < 450*time.Millisecond {
		t.Errorf("120 copies at 200/s took %v", took)
	}
	if _, err := e.c.SendNotice(ctx, "ops", protocol.NoticeRequest{To: "k=v", Body: "again"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.SendNotice(ctx, "ops", protocol.NoticeRequest{To: "k=v", Body: "a third"})
	var le *ratelimit.Error
	if !errors.As(err, &le) || le.Limit != limitNotices {
		t.Fatalf("a third notice in a minute: %v, want a notices rate limit", err)
	}
	if _, err := e.c.SendNotice(ctx, "another admin", protocol.NoticeRequest{To: "k=v", Body: "mine"}); err != nil {
		t.Fatalf("another admin's notice: %v", err)
	}
	for _, bad := range []protocol.NoticeRequest{{To: "k=", Body: "x"}, {To: "", Body: "x"}, {To: "k=v"}, {To: "k=v", Body: "x", Payload: []byte("{")}} {
		var fe *FieldError
		if _, err := e.c.SendNotice(ctx, "third", bad); !errors.As(err, &fe) {
			t.Errorf("SendNotice(%+v) = %v, want a field error", bad, err)
		}
	}
}

func TestImportTagsValidatesFirstAndFailsEntriesAlone(t *testing.T) {
	t.Parallel()
	db := openNoticeDB(t, filepath.Join(t.TempDir(), "p.db"))
	tagUsers(t, db, 3, func(int) map[string]string { return nil })
	e := startNoticeCore(t, db, nil, NoticeOptions{TagsPerUser: 2})
	ctx := context.Background()
	// A malformed entry fails the request: nothing changes.
	_, err := e.c.ImportTags(ctx, protocol.TagsImport{Users: []protocol.UserTags{
		{User: "u000", Tags: map[string]string{"region": "beijing"}},
		{User: "u001", Tags: map[string]string{"re gion": "x"}},
	}})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "users[1]" {
		t.Fatalf("import with a bad key: %v", err)
	}
	if tags, _ := e.c.UserTags(ctx, "u000"); len(tags.Tags) != 0 {
		t.Fatalf("a failed import changed %v", tags)
	}
	res, err := e.c.ImportTags(ctx, protocol.TagsImport{Users: []protocol.UserTags{
		{User: "u000", Tags: map[string]string{"region": "beijing", "plan": "pro"}},
		{User: "ghost", Tags: map[string]string{"region": "beijing"}},
		{User: "u001", Tags: map[string]string{"region": "hangzhou"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 2 || len(res.Failed) != 1 || res.Failed[0].Index != 1 || res.Failed[0].User != "ghost" {
		t.Fatalf("import result %+v", res)
	}
	// Again: nothing changes; an empty value deletes; over the limit fails.
	res, err = e.c.ImportTags(ctx, protocol.TagsImport{Users: []protocol.UserTags{
		{User: "u000", Tags: map[string]string{"region": "beijing", "plan": "pro"}},
		{User: "u001", Tags: map[string]string{"region": ""}},
		{User: "u000", Tags: map[string]string{"vip": "yes"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged != 1 || res.Changed != 1 || len(res.Failed) != 1 || res.Failed[0].Index != 2 {
		t.Fatalf("second import %+v", res)
	}
	if tags, _ := e.c.UserTags(ctx, "u001"); len(tags.Tags) != 0 {
		t.Fatalf("u001 kept %v", tags.Tags)
	}
	a, err := e.c.Audience(ctx, "region=beijing AND plan=pro")
	if err != nil || a.Matched != 1 || a.To != "region=beijing AND plan=pro" {
		t.Fatalf("audience %+v %v", a, err)
	}
	if ok, err := e.c.CarriesTagValue(ctx, "u000", "pro"); err != nil || !ok {
		t.Fatalf("u000 carries pro: %v %v", ok, err)
	}
	if _, err := e.c.UpdateTags(ctx, "u000", map[string]string{"c": "3"}, nil); !errors.As(err, &fe) {
		t.Fatalf("a third tag: %v, want a field error", err)
	}
	if _, err := e.c.SetTags(ctx, "nobody", map[string]string{"a": "1"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("tags of nobody: %v", err)
	}
}
