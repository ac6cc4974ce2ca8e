package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LockFile is the file in the data directory on which a running server
// (and a restore, while it runs) holds an exclusive flock. The kernel
// releases the lock when the process ends, however it ends, so a killed
// server never blocks the next start. The file stays; its content says who
// holds the lock.
const LockFile = "parley.lock"

// ErrDataDirInUse is matched (errors.Is) by the error of LockDataDir when
// another process holds the data directory.
var ErrDataDirInUse = errors.New("data directory in use")

// Holder is what the holder of a data directory's lock records in the lock
// file, so that a refused command can name it.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`        // "serve", "restore", ...
	HTTP    string    `json:"http,omitempty"` // URL of the public listener
	MQTT    string    `json:"mqtt,omitempty"` // address of MQTT over TCP
	Started time.Time `json:"started"`
}

// String names the holder for an error message: "parley serve (pid 42,
// http://127.0.0.1:8080, started 2006-01-02T15:04:05Z)".
func (h Holder) String() string {
	if h.PID == 0 {
		return "another parley process (it has not said which yet)"
	}
	parts := []string{fmt.Sprintf("pid %d", h.PID)}
	if h.HTTP != "" {
		parts = append(parts, h.HTTP)
	}
	if h.MQTT != "" {
		parts = append(parts, "MQTT on "+h.MQTT)
	}
	if !h.Started.IsZero() {
		parts = append(parts, "started "+h.Started.Format(time.RFC3339))
	}
	cmd := h.Command
	if cmd == "" {
		cmd = "serve"
	}
	return fmt.Sprintf("parley %s (%s)", cmd, strings.Join(parts, ", "))
}

// LockedError is the error of LockDataDir when another process holds the
// data directory.
type LockedError struct {
	Dir    string
	Holder Holder
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("data directory %s is in use by %s", e.Dir, e.Holder)
}

// Is makes errors.Is(err, ErrDataDirInUse) hold.
func (e *LockedError) Is(target error) bool { return target == ErrDataDirInUse }

// DirLock is a held lock on a data directory.
type DirLock struct {
	mu     sync.Mutex
	f      *os.File
	holder Holder
}

// LockDataDir creates dir if needed and takes its lock for command without
// waiting; if another process holds it, the error is a *LockedError naming
// that process. Release the lock with Release.
func LockDataDir(dir, command string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, Holder: readHolder(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	l := &DirLock{f: f, holder: Holder{PID: os.Getpid(), Command: command, Started: time.Now().UTC().Truncate(time.Second)}}
	if err := l.write(); err != nil {
		l.Release()
		return nil, err
	}
	return l, nil
}

// flock takes an exclusive flock on f without waiting, retrying when a
// signal interrupts the call.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Update changes what the lock file says about its holder.
func (l *DirLock) Update(change func(*Holder)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	change(&l.holder)
	return l.writeLocked()
}

func (l *DirLock) write() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writeLocked()
}

func (l *DirLock) writeLocked() error {
	b, err := json.Marshal(l.holder)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	// Written in place, then cut to length: a reader sees the old or the
	// new record, possibly followed by a tail of the old one, which
	// readHolder retries on.
	if _, err := l.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("write lock file: %w", err)
	}
	if err := l.f.Truncate(int64(len(b))); err != nil {
		return fmt.Errorf("write lock file: %w", err)
	}
	return nil
}

// Release empties the lock file and releases the lock. Idempotent.
func (l *DirLock) Release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = l.f.Close() // releases the flock
	l.f = nil
}

// readHolder reads the record of the lock's holder. A holder that has
// just taken the lock may not have written it yet: it is read again for a
// short while before giving up with what there is.
func readHolder(path string) Holder {
	deadline := time.Now().Add(time.Second)
	for {
		var h Holder
		b, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(b, &h) == nil && h.PID != 0 {
			return h
		}
		if time.Now().After(deadline) {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
}
