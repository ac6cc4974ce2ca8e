package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// DeleteUser erases an account (the admin API's DELETE): it closes the
// user's connections (3502), then, in one short store transaction, leaves a
// tombstone that keeps the id taken forever and deletes sessions, devices
// and positions, so that nothing of the user's can log in or send again;
// then, in bounded store steps with other commits running between them, it
// clears the bodies of everything the user wrote (the rows and their seqs
// stay) and takes the user out of every conversation; the groups' members
// get the "left" (and, for an owner, "role") events as each step commits.
// A deleted user can neither log in nor be registered again. Deleting a
// deleted user again succeeds: it finishes an erasure that was interrupted
// (as Run does at start) and otherwise changes nothing;
// store.ErrNotFound for an unknown user.
func (c *Core) DeleteUser(ctx context.Context, user string) error {
	if _, err := c.st.User(ctx, user); err != nil {
		return fmt.Errorf("user %s: %w", user, err)
	}
	convs, err := c.st.UserConversations(ctx, user)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	closeAll := func(*Client) bool { return true }
	c.closeEverywhere(closeSel{User: user, Code: protocol.CloseRevoked, Reason: "account deleted"})
	// No flush may write positions of the user once they are gone.
	c.flushMu.Lock()
	c.dropBuffered(user, "")
	err = c.st.BeginErasure(ctx, user, c.now())
	c.flushMu.Unlock()
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	c.passwords.Forget(user)
	// A connection that authenticated just before the deletion and
	// attached after the first round is closed now.
	c.closeWhere(user, closeAll, protocol.CloseRevoked, "account deleted")
	for _, conv := range convs {
		c.members.invalidate(conv)
	}
	// The tombstone is committed: the steps run to the end even if the
	// caller gives up (an admin's HTTP client that hangs up must not
	// leave the user half erased until the next start); each step is a
	// short transaction, and a crash or a shutdown between two is
	// resumed at the next start.
	if err := c.finishErasure(context.WithoutCancel(ctx), user); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	c.log.Info("user deleted", "user", user, "conversations", len(convs))
	return nil
}

// finishErasure runs the steps of user's pending erasure until none is
// left, publishing each step's events once it has committed. Direct
// conversations lose the user without an event: their cached members are
// dropped at the end.
func (c *Core) finishErasure(ctx context.Context, user string) error {
	convs, err := c.st.UserConversations(ctx, user)
	if err != nil {
		return err
	}
	defer func() {
		for _, conv := range convs {
			c.members.invalidate(conv)
		}
	}()
	for {
		events, done, err := c.st.EraseStep(ctx, user, c.now())
		if err != nil {
			return err
		}
		for i := range events {
			c.committed(nil, &events[i])
		}
		if done {
			return nil
		}
	}
}

// resumeErasures finishes the erasures a crash or an error interrupted
// (store.Erasure.PendingErasures); Run calls it at start.
func (c *Core) resumeErasures(ctx context.Context) {
	users, err := c.st.PendingErasures(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("resume erasures", "err", err)
		}
		return
	}
	for _, u := range users {
		if err := c.finishErasure(ctx, u); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("resume erasure", "user", u, "err", err)
			}
			return
		}
		c.log.Info("user deleted (resumed)", "user", u)
	}
}

// exportPage is how many messages one store read of an export returns.
const exportPage = 500

// UserExport is a user's data for the admin export: the profile, devices
// and memberships, read when the export starts, and the messages the user
// sent, streamed by Messages.
type UserExport struct {
	User          protocol.User
	Devices       []protocol.Device
	Conversations []protocol.Conversation

	c    *Core
	user string
}

// ExportUser starts an export of user's data (a tombstone for a deleted
// user); store.ErrNotFound for an unknown user. Conversations are those the
// user is a member of, as the user sees them but without their last
// message (which may be someone else's).
func (c *Core) ExportUser(ctx context.Context, user string) (*UserExport, error) {
	u, err := c.st.User(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", user, err)
	}
	devs, err := c.Devices(ctx, user)
	if err != nil {
		return nil, err
	}
	ids, err := c.st.UserConversations(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	e := &UserExport{User: userToProtocol(u), Devices: devs, Conversations: make([]protocol.Conversation, 0, len(ids)),
		c: c, user: user}
	for _, id := range ids {
		cv, err := c.Conversation(ctx, user, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // left meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		if cv.Kind == protocol.ConvSystem && cv.LastSeq == 0 {
			continue // empty until its first entry, and not listed
		}
		cv.LastMessage = nil
		e.Conversations = append(e.Conversations, cv)
	}
	return e, nil
}

// Messages calls fn with every message the user sent (edits, deletions and
// membership events included, in conversations they left too), ordered by
// conversation and seq, in their current state, reading the store a page
// at a time. It stops at fn's first error and returns it.
func (e *UserExport) Messages(ctx context.Context, fn func(*protocol.Message) error) error {
	conv, seq := "", uint64(0)
	for {
		page, err := e.c.st.SentMessages(ctx, e.user, conv, seq, exportPage)
		if err != nil {
			return fmt.Errorf("export messages: %w", err)
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		last := page[len(page)-1]
		conv, seq = last.Conv, last.Seq
	}
}
