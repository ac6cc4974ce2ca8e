package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/parley-im/parley/protocol"
)

// SeedMoments fills a store for the feed benchmark in one transaction:
// users reader, f0..f<followed-1> (whom reader follows) and
// o0..o<others-1> (whom nobody follows), and perAuthor moments by each
// author, posted in a shuffled order (as authors post at different
// times), one in eight for friends and one in sixteen for a list of one
// other user.
func (db *DB) SeedMoments(ctx context.Context, reader string, followed, others, perAuthor int, now time.Time) error {
	return db.update(ctx, func(tx *Tx) error {
		var authors []string
		for i := range followed {
			authors = append(authors, fmt.Sprint("f", i))
		}
		for i := range others {
			authors = append(authors, fmt.Sprint("o", i))
		}
		for _, u := range append([]string{reader}, authors...) {
			if _, err := tx.ExecContext(ctx, "INSERT INTO users (id, created_at) VALUES (?, ?)", u, ms(now)); err != nil {
				return err
			}
		}
		for _, a := range authors[:followed] {
			if _, err := tx.ExecContext(ctx, "INSERT INTO follows (follower, followee, created_at) VALUES (?, ?, ?)", reader, a, ms(now)); err != nil {
				return err
			}
		}
		posts := make([]string, 0, len(authors)*perAuthor)
		for _, a := range authors {
			for range perAuthor {
				posts = append(posts, a)
			}
		}
		r := rand.New(rand.NewPCG(7, 11))
		r.Shuffle(len(posts), func(i, j int) { posts[i], posts[j] = posts[j], posts[i] })
		payload := []byte(`{"images":["https://img.example.com/2026/12/07/0123456789abcdef.jpg","https://img.example.com/2026/12/07/fedcba9876543210.jpg"]}`)
		for i, a := range posts {
			vis := protocol.VisibilityFollowers
			switch {
			case i%16 == 5:
				vis = protocol.VisibilityList
			case i%8 == 3:
				vis = protocol.VisibilityFriends
			}
			var id int64
			if err := tx.QueryRowContext(ctx,
				"INSERT INTO moments (author, text, payload, visibility, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
				a, "a day at the lake with friends, the water was cold but the sun was out", payload, vis, ms(now)+int64(i)).Scan(&id); err != nil {
				return err
			}
			if vis == protocol.VisibilityList {
				if _, err := tx.ExecContext(ctx, "INSERT INTO moment_audience (moment_id, user_id) VALUES (?, ?)", id, authors[(i*7)%len(authors)]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
