package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// Interface guard.
var _ store.MQTTSessions = (*DB)(nil)

// mqttSubscription is the JSON form of one store.MQTTSubscription in
// mqtt_sessions.subscriptions.
type mqttSubscription struct {
	Filter string `json:"filter"`
	QoS    byte   `json:"qos"`
}

// MQTTSession returns the session of (user, device); store.ErrNotFound if
// there is none or it expired at or before now. An expired session is then
// deleted, unless a newer one replaced it meanwhile; that deletion is best
// effort (a failure is logged, the next call tries again).
func (db *DB) MQTTSession(ctx context.Context, user, device string, now time.Time) (store.MQTTSession, error) {
	var subs string
	var expires int64
	err := db.r.QueryRowContext(ctx,
		"SELECT subscriptions, expires_at FROM mqtt_sessions WHERE user_id = ? AND device_id = ?",
		user, device).Scan(&subs, &expires)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.MQTTSession{}, fmt.Errorf("store: mqtt session: %w", store.ErrNotFound)
		}
		return store.MQTTSession{}, fmt.Errorf("store: mqtt session: %w", classify(err))
	}
	if expires != 0 && expires <= ms(now) {
		db.dropExpiredMQTTSession(ctx, user, device, expires)
		return store.MQTTSession{}, fmt.Errorf("store: mqtt session: %w: expired", store.ErrNotFound)
	}
	s := store.MQTTSession{User: user, Device: device, ExpiresAt: fromMS(expires)}
	if s.Subscriptions, err = decodeSubscriptions(subs); err != nil {
		return store.MQTTSession{}, fmt.Errorf("store: mqtt session: %w", err)
	}
	return s, nil
}

// dropExpiredMQTTSession deletes the session of (user, device) if it still
// has the given (past) expiry: a session put again since is kept.
func (db *DB) dropExpiredMQTTSession(ctx context.Context, user, device string, expires int64) {
	err := db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx,
			"DELETE FROM mqtt_sessions WHERE user_id = ? AND device_id = ? AND expires_at = ?",
			user, device, expires)
		return classify(err)
	})
	if err != nil && ctx.Err() == nil {
		db.log.Warn("store: delete expired mqtt session", "err", err)
	}
}

// PutMQTTSession creates or replaces the session of (s.User, s.Device). It
// does nothing for a deleted user.
func (db *DB) PutMQTTSession(ctx context.Context, s store.MQTTSession) error {
	subs, err := encodeSubscriptions(s.Subscriptions)
	if err != nil {
		return fmt.Errorf("store: put mqtt session: %w", err)
	}
	err = db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO mqtt_sessions (user_id, device_id, subscriptions, expires_at)
			 SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND deleted <> 0)
			 ON CONFLICT (user_id, device_id) DO UPDATE
			 SET subscriptions = excluded.subscriptions, expires_at = excluded.expires_at`,
			s.User, s.Device, subs, ms(s.ExpiresAt))
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: put mqtt session: %w", err)
	}
	return nil
}

// DeleteMQTTSession removes the session of (user, device); nil if there is
// none.
func (db *DB) DeleteMQTTSession(ctx context.Context, user, device string) error {
	err := db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx,
			"DELETE FROM mqtt_sessions WHERE user_id = ? AND device_id = ?", user, device)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: delete mqtt session: %w", err)
	}
	return nil
}

// dropMQTTSession deletes the MQTT session of a deleted device in tx.
func dropMQTTSession(ctx context.Context, tx *Tx, user, device string) error {
	_, err := tx.ExecContext(ctx,
		"DELETE FROM mqtt_sessions WHERE user_id = ? AND device_id = ?", user, device)
	return classify(err)
}

// encodeSubscriptions returns the JSON array stored for subs ("[]" for
// none).
func encodeSubscriptions(subs []store.MQTTSubscription) (string, error) {
	out := make([]mqttSubscription, len(subs))
	for i, s := range subs {
		out[i] = mqttSubscription{Filter: s.Filter, QoS: s.QoS}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode subscriptions: %w", err)
	}
	return string(b), nil
}

// decodeSubscriptions parses a stored JSON array; nil for an empty one.
func decodeSubscriptions(v string) ([]store.MQTTSubscription, error) {
	var in []mqttSubscription
	if err := json.Unmarshal([]byte(v), &in); err != nil {
		return nil, fmt.Errorf("%w: subscriptions: %w", ErrCorrupt, err)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]store.MQTTSubscription, len(in))
	for i, s := range in {
		out[i] = store.MQTTSubscription{Filter: s.Filter, QoS: s.QoS}
	}
	return out, nil
}
