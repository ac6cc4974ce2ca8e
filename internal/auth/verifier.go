package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"runtime"
	"sync"
	"time"
)

// ErrBusy: every password slot stayed taken for as long as a caller may
// wait. Nothing was checked; the client retries later.
var ErrBusy = errors.New("server busy")

// Defaults of VerifierOptions.
const (
	// DefaultPasswordWait is the longest a password check waits for a
	// free slot: well inside the connect timeouts of common clients (5 s
	// and more), so that a client is told "busy" instead of timing out.
	DefaultPasswordWait = 2 * time.Second
	// DefaultPasswordCache is how many successful checks are remembered:
	// at about 150 bytes each, 10 MiB at most.
	DefaultPasswordCache = 65536
)

// BusyRetry is the wait advised to a client refused with ErrBusy.
const BusyRetry = time.Second

// Outcome is what one Verifier.Check cost.
type Outcome int

const (
	// Cached: a remembered success answered; nothing was hashed.
	Cached Outcome = iota
	// Hashed: argon2id ran (a miss, a wrong password, an unknown user).
	Hashed
	// Busy: no slot came free in time; ErrBusy was returned.
	Busy
)

// String is the outcome's metric label.
func (o Outcome) String() string {
	switch o {
	case Cached:
		return "cached"
	case Hashed:
		return "hashed"
	}
	return "busy"
}

// VerifierOptions configure a Verifier. The zero value is usable.
type VerifierOptions struct {
	// Concurrency is how many argon2id computations (checks and new
	// hashes) run at once; each holds 19 MiB while it runs. 0 means
	// runtime.GOMAXPROCS(0).
	Concurrency int
	// Wait is the longest a computation waits for a free slot before it
	// fails with ErrBusy; 0 means DefaultPasswordWait. A context that ends
	// first ends the wait too, with ErrBusy.
	Wait time.Duration
	// CacheSize bounds the successful checks remembered; 0 means
	// DefaultPasswordCache, negative turns the cache off.
	CacheSize int
	// Observe, if not nil, is told the outcome of every Check.
	Observe func(Outcome)
}

// Verifier checks passwords against stored argon2id hashes with bounded
// concurrency, and remembers successful checks so that a client that
// reconnects with the same password is not hashed again. Safe for
// concurrent use.
//
// A remembered success is one entry per user: HMAC-SHA256, under a random
// key made when the Verifier is, of (user, stored hash, password). It
// holds neither the password nor anything that can be tested against a
// guess without the key, which never leaves the process. Because the stored
// hash is part of it, an entry stops matching the moment the password
// changes, whoever changed it; Forget drops a user's entry outright (a
// disabled or deleted user).
type Verifier struct {
	slots chan struct{}
	wait  time.Duration
	max   int // cache bound; 0: no cache
	obs   func(Outcome)

	macs sync.Pool // of hash.Hash keyed with key

	mu    sync.Mutex
	cache map[string][sha256.Size]byte // user → mac of their last successful check

	// check and hash are CheckPassword and HashPassword; tests replace them.
	check func(hash, password string) bool
	hash  func(password string) (string, error)
}

// NewVerifier returns a Verifier with opt (zero fields take their
// defaults).
func NewVerifier(opt VerifierOptions) *Verifier {
	if opt.Concurrency <= 0 {
		opt.Concurrency = runtime.GOMAXPROCS(0)
	}
	if opt.Wait <= 0 {
		opt.Wait = DefaultPasswordWait
	}
	if opt.CacheSize == 0 {
		opt.CacheSize = DefaultPasswordCache
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	v := &Verifier{
		slots: make(chan struct{}, opt.Concurrency), wait: opt.Wait, max: max(0, opt.CacheSize), obs: opt.Observe,
		cache: make(map[string][sha256.Size]byte), check: CheckPassword, hash: HashPassword,
	}
	v.macs.New = func() any { return hmac.New(sha256.New, key) }
	return v
}

// Check reports whether password is user's, whose stored hash is hash
// (empty for an unknown user or one without a password: never a match,
// after the same work as a wrong password). It returns ErrBusy, having
// checked nothing, if no slot came free within the wait or before ctx
// ended.
func (v *Verifier) Check(ctx context.Context, user, hash, password string) (bool, error) {
	var mac [sha256.Size]byte
	if v.max > 0 && hash != "" {
		mac = v.mac(user, hash, password)
		v.mu.Lock()
		m, ok := v.cache[user]
		v.mu.Unlock()
		if ok && hmac.Equal(m[:], mac[:]) {
			v.observe(Cached)
			return true, nil
		}
	}
	if err := v.acquire(ctx); err != nil {
		v.observe(Busy)
		return false, err
	}
	ok := v.check(hash, password)
	v.release()
	v.observe(Hashed)
	if ok && v.max > 0 && hash != "" {
		v.remember(user, mac)
	}
	return ok, nil
}

// Hash hashes a new password (HashPassword) in one of the same slots as
// Check, or returns ErrBusy as Check does.
func (v *Verifier) Hash(ctx context.Context, password string) (string, error) {
	if err := v.acquire(ctx); err != nil {
		return "", err
	}
	defer v.release()
	return v.hash(password)
}

// Forget drops the user's remembered success: the next check hashes.
func (v *Verifier) Forget(user string) {
	v.mu.Lock()
	delete(v.cache, user)
	v.mu.Unlock()
}

// Len is how many successes are remembered.
func (v *Verifier) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.cache)
}

func (v *Verifier) observe(o Outcome) {
	if v.obs != nil {
		v.obs(o)
	}
}

// acquire takes a slot, waiting at most v.wait and no longer than ctx.
func (v *Verifier) acquire(ctx context.Context) error {
	select {
	case v.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(v.wait)
	defer t.Stop()
	select {
	case v.slots <- struct{}{}:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	return ErrBusy
}

func (v *Verifier) release() { <-v.slots }

// remember stores user's mac; a full cache first forgets an arbitrary
// entry (Go's map iteration starts at a random one).
func (v *Verifier) remember(user string, mac [sha256.Size]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.cache[user]; !ok && len(v.cache) >= v.max {
		for k := range v.cache {
			delete(v.cache, k)
			break
		}
	}
	v.cache[user] = mac
}

// mac is HMAC-SHA256 of the length-prefixed user, stored hash and password.
func (v *Verifier) mac(user, stored, password string) [sha256.Size]byte {
	h := v.macs.Get().(hash.Hash)
	defer v.macs.Put(h)
	h.Reset()
	var n [8]byte
	for _, s := range []string{user, stored, password} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
