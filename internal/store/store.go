// Package store defines the storage contract of Parley's core. Backends
// (internal/store/sqlite, later internal/store/postgres) implement Store and
// pass the conformance suite in internal/store/storetest.
//
// Every method is safe for concurrent use. Every method that writes commits
// durably before it returns nil: a nil error means the data survives a crash
// of the process and of the machine.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: the row does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrExists: a row with that key exists already.
	ErrExists = errors.New("already exists")
	// ErrNotMember: the sender is not a member of the conversation.
	ErrNotMember = errors.New("not a member")
	// ErrForbidden: the sender may not do this (e.g. edit another's message).
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: the request is well-formed but cannot apply (e.g. editing a
	// deleted message, or an edit target that is not a content message).
	ErrInvalid = errors.New("invalid")
	// ErrLimit: a count limit would be exceeded (a user's devices).
	ErrLimit = errors.New("limit reached")
)

// User is an account.
type User struct {
	ID           string
	DisplayName  string
	PasswordHash string // empty for users of an external identity provider
	Disabled     bool
	CreatedAt    time.Time
	LastSeen     time.Time // zero if never seen
	// Deleted marks the tombstone DeleteUser leaves: the id stays taken
	// forever (CreateUser fails with ErrExists), nothing else of the account
	// is kept, and Disabled is set too. CreateUser ignores it.
	Deleted bool
	// DeletedAt is when the user was deleted; zero unless Deleted.
	DeletedAt time.Time
}

// Session is a login of one device: it owns a refresh token. Access tokens
// name the session, so revoking it ends them too.
type Session struct {
	ID          string
	User        string
	Device      string
	RefreshHash string // hash of the current refresh token
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Revoked     bool
}

// Device is a (user, device) pair known to the server.
type Device struct {
	User      string
	ID        string
	CreatedAt time.Time
	LastSeen  time.Time
}

// Conversation is a direct (one-to-one) conversation or a group.
type Conversation struct {
	ID        string
	Kind      string // protocol.ConvDirect, ConvGroup or ConvSystem
	Name      string
	CreatedBy string
	CreatedAt time.Time
	// LastSeq is the seq of the newest message; 0 in an empty conversation.
	LastSeq uint64
	// UpdatedAt is the time of the newest message (or creation).
	UpdatedAt time.Time
	// MaxAge is the conversation's own retention (see Retention); 0 means
	// the global setting applies.
	MaxAge time.Duration
	// PurgedSeq is the highest seq that retention deleted: the messages with
	// seq <= PurgedSeq are gone, every one above it up to LastSeq is stored.
	// 0 if nothing was purged. It never decreases, and never exceeds LastSeq.
	PurgedSeq uint64
}

// Member is a current member of a conversation.
type Member struct {
	Conv string
	User string
	Role string
	// JoinedSeq is the conversation's LastSeq when the member joined; the
	// member sees messages with seq > JoinedSeq only.
	JoinedSeq uint64
	// ReadSeq is the user's read position (all devices).
	ReadSeq uint64
	// DeliveredSeq is the highest seq any of the user's devices acknowledged.
	DeliveredSeq uint64
}

// Summary is one conversation as listed for a user. The embedded
// Conversation carries MaxAge and PurgedSeq.
type Summary struct {
	Conversation
	Role      string
	Peer      string // the other user of a direct conversation
	JoinedSeq uint64
	ReadSeq   uint64
	Unread    int
	Last      *protocol.Message // nil in an empty conversation
	// Cursor, given to ListConversations, continues the list after this
	// entry (so a caller may end a page early).
	Cursor string
}

// Append is one entry to store in a conversation.
//
// Kinds: protocol.KindMessage (content); protocol.KindEdit and
// protocol.KindDelete (Target is the seq of a KindMessage by the same sender;
// the target row is updated in the same transaction: body replaced and
// EditedAt set, or body and payload cleared and Deleted set);
// protocol.KindMember (Member describes the change, applied to the member
// table in the same transaction); protocol.KindSystem (rename: Member.Name is
// the new name, applied to the conversation); protocol.KindFriend,
// KindInvite and KindFollow (Social describes it; no side effect of its
// own: the store methods of the social graph write their state in the same
// transaction as the entries they append with SystemEntry).
type Append struct {
	Conv        string
	Sender      string
	ClientMsgID string // unique per Sender when non-empty
	// PacketKey, when not empty, is a second dedupe key of Sender that the
	// message holds until it is released (Writes.Releases,
	// ReleasePacketKey): an MQTT QoS 2 packet id, which its client may use
	// again once the flow is complete. While it is held, an Append with
	// the same (Sender, PacketKey) is a duplicate of the message holding
	// it. It is not part of the message: readers never see it, and its
	// release changes nothing they see.
	PacketKey   string
	Kind        string
	ContentType string
	Body        string
	Payload     []byte
	Encrypted   bool
	Target      uint64
	Member      *protocol.MemberChange
	// Social describes an entry of the social graph (protocol.KindFriend,
	// KindInvite, KindFollow), written into a system conversation only
	// (see SystemEntry); a KindMessage may carry one to name a notice.
	Social *protocol.SocialEvent
	// SkipMemberCheck lets membership events through whose sender is not (or
	// no longer) a member: a join, or a removal/leave of the sender itself is
	// checked by the caller.
	SkipMemberCheck bool
	// Authorize asks the store to check a group's role rules for a
	// KindMember or KindSystem entry at commit time, with the roles as they
	// are at that point of the transaction (so two concurrent changes cannot
	// both pass a check made before either committed): adding and renaming
	// need an owner or admin; removing another member needs a higher rank
	// than theirs and at least admin; changing a role needs the owner.
	// Leaving (removing oneself) is always allowed. A violation fails the
	// entry with ErrForbidden.
	Authorize bool
	// MaxMembers, for a KindMember "added" or "joined", fails the entry
	// with ErrLimit if the group has that many members at that point of
	// the transaction (0: no limit), so that concurrent joins cannot
	// overfill a group.
	MaxMembers int
}

// AppendResult is the outcome of one Append.
type AppendResult struct {
	// Message is the stored message (for a duplicate: the original one).
	Message protocol.Message
	// Duplicate is true when (Sender, ClientMsgID) was stored before; nothing
	// new was stored.
	Duplicate bool
	// Err is the per-entry failure (ErrNotMember, ErrForbidden, ErrNotFound,
	// ErrInvalid); the other entries of the batch are unaffected.
	Err error
}

// DeviceAck is a device's cumulative acknowledgement in a conversation.
type DeviceAck struct {
	User   string
	Device string
	Conv   string
	Seq    uint64
	// Start marks where a device that acknowledged nothing starts (a new
	// device's read position): stored as its position, but not an
	// acknowledgement, so the member's DeliveredSeq is not raised.
	Start bool
}

// ReadPosition asks to raise User's read position in Conv to Seq, as
// Positions.SetRead does.
type ReadPosition struct {
	Conv string
	User string
	Seq  uint64
}

// ReadResult is the outcome of one ReadPosition.
type ReadResult struct {
	// Seq is the user's read position after the write (as SetRead returns).
	Seq uint64
	// Err is ErrNotFound if the user is not a member of the conversation;
	// the other writes of the transaction are unaffected.
	Err error
}

// DeviceTouch marks a device seen at At, as Sessions.TouchDevice does.
type DeviceTouch struct {
	User   string
	Device string
	At     time.Time
}

// Release frees a packet key (Append.PacketKey), as
// MQTTSessions.ReleasePacketKey does.
type Release struct {
	Sender    string
	PacketKey string
}

// Writes are the small writes that need no transaction of their own: the
// core's committer applies them in the transaction of its next batch of
// appends (GroupCommit.Commit), so they share its one synced commit.
type Writes struct {
	// Acks are stored as by SaveAcks.
	Acks []DeviceAck
	// Touches are applied as by TouchDevice, in order.
	Touches []DeviceTouch
	// Reads are applied as by SetRead, in order; one ReadResult each.
	Reads []ReadPosition
	// Releases are applied as by ReleasePacketKey, in order; one error
	// each.
	Releases []Release
	// ExpireBefore, unless zero, expires the devices not seen since then,
	// as ExpireDevices does, after the acks and touches above.
	ExpireBefore time.Time
}

// Empty reports whether w writes nothing.
func (w *Writes) Empty() bool {
	return len(w.Acks) == 0 && len(w.Touches) == 0 && len(w.Reads) == 0 && len(w.Releases) == 0 && w.ExpireBefore.IsZero()
}

// CommitResult is the outcome of GroupCommit.Commit.
type CommitResult struct {
	// Appends has one result per entry, as Append returns them.
	Appends []AppendResult
	// Reads has one result per Writes.Reads.
	Reads []ReadResult
	// Releases has one error per Writes.Releases: nil (a release of its
	// own cannot fail; a storage failure fails the whole Commit).
	Releases []error
	// Expired lists the devices that Writes.ExpireBefore removed (User and
	// ID set).
	Expired []Device
}

// Users stores accounts.
type Users interface {
	// CreateUser stores u; ErrExists if the id is taken, also by a deleted
	// user (ids are never reused).
	CreateUser(ctx context.Context, u User) error
	// User returns the user, a deleted one as its tombstone (Deleted set);
	// ErrNotFound if absent.
	User(ctx context.Context, id string) (User, error)
	// ListUsers returns up to limit users with id > after, ordered by id,
	// tombstones included.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
	// SetDisabled disables or re-enables a user; ErrNotFound if absent or
	// deleted (a tombstone stays disabled).
	SetDisabled(ctx context.Context, id string, disabled bool) error
	// SetPassword replaces the password hash; ErrNotFound if absent or
	// deleted.
	SetPassword(ctx context.Context, id, hash string) error
	// TouchUser records that the user was seen at t (last-seen for
	// presence). A deleted user's tombstone is left as it is.
	TouchUser(ctx context.Context, id string, t time.Time) error
}

// Sessions stores logins: a session per sign-in of a device, with its
// rotating refresh token.
type Sessions interface {
	// CreateSession stores s and registers its device if new. ErrNotFound
	// if s.User is a deleted user: nobody logs into a tombstone.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session; ErrNotFound if absent.
	Session(ctx context.Context, id string) (Session, error)
	// RotateRefresh replaces the refresh hash if it still equals old;
	// ErrNotFound if the session is absent, revoked, or the hash differs.
	RotateRefresh(ctx context.Context, id, old, new string, expires time.Time) error
	// RevokeSession revokes one session. Revoking twice is not an error.
	RevokeSession(ctx context.Context, id string) error
	// RevokeUser revokes every session of the user.
	RevokeUser(ctx context.Context, user string) error
}

// Devices stores the devices of users. Deleting a device ends what
// belongs to it: its sessions are revoked, its positions and its MQTT
// session dropped.
type Devices interface {
	// TouchDevice registers the device if new and sets its last-seen time.
	// It does nothing for a deleted user (no device comes back after
	// DeleteUser).
	TouchDevice(ctx context.Context, user, device string, t time.Time) error
	// AddDevice registers the device, created and seen at t, and reports
	// created, unless the user has it already (then it writes nothing and
	// returns false). A new device is refused with ErrLimit if the user
	// already has max devices (max <= 0: no limit), and with ErrNotFound
	// if the user is deleted. Counting and inserting are one atomic step:
	// concurrent calls never leave a user with more than max devices.
	AddDevice(ctx context.Context, user, device string, t time.Time, max int) (created bool, err error)
	// Devices lists the user's devices ordered by id.
	Devices(ctx context.Context, user string) ([]Device, error)
	// DeleteDevice removes the device, revokes its sessions and drops its
	// positions and its MQTT session, in one transaction; ErrNotFound if
	// absent.
	DeleteDevice(ctx context.Context, user, device string) error
	// ExpireDevices deletes devices not seen since before (as DeleteDevice,
	// MQTT sessions included) and returns how many.
	ExpireDevices(ctx context.Context, before time.Time) (int, error)
}

// Conversations stores conversations and their members.
type Conversations interface {
	// EnsureDirect returns the direct conversation of a and b (a != b),
	// creating it with id newID if it does not exist. The same conversation is
	// returned for (a, b) and (b, a). It does not create one with a deleted
	// user (ErrNotFound).
	EnsureDirect(ctx context.Context, newID, a, b string, now time.Time) (Conversation, error)
	// CreateGroup stores a group with its members (creator first, as owner)
	// and, in the same transaction, its one creation event, which it
	// returns: seq 1, KindMember, sender = creator, Member {User: creator,
	// Action: protocol.MemberCreated, Name: the group's name}. It is one
	// event whatever the number of members (never one per member); every
	// initial member has JoinedSeq 0 and so sees it. ErrExists if the id is
	// taken; ErrNotFound if a member is a deleted user.
	CreateGroup(ctx context.Context, c Conversation, members []Member) (protocol.Message, error)
	// Conversation returns the conversation; ErrNotFound if absent.
	Conversation(ctx context.Context, id string) (Conversation, error)
	// Member returns a current member; ErrNotFound if the user is not one.
	Member(ctx context.Context, conv, user string) (Member, error)
	// Members returns the current members ordered by user id.
	Members(ctx context.Context, conv string) ([]Member, error)
	// MemberIDs returns the user ids of the current members.
	MemberIDs(ctx context.Context, conv string) ([]string, error)
	// UserConversations returns the ids of every conversation the user is a
	// member of, in no particular order.
	UserConversations(ctx context.Context, user string) ([]string, error)
	// ListConversations returns up to limit of the user's conversations,
	// newest activity first (UpdatedAt desc, then id), starting after the
	// cursor (empty: from the newest). It returns the cursor of the next page
	// (empty on the last one) and the user's total unread over all
	// conversations, each counted at the user's read position as Unread
	// counts, at a cost that does not grow with the number of unread
	// messages.
	ListConversations(ctx context.Context, user, cursor string, limit int) (page []Summary, next string, totalUnread int, err error)
}

// Messages stores the messages of conversations.
type Messages interface {
	// Append stores the entries in one transaction, assigning each the next
	// per-conversation seq (gap-free, strictly increasing). Entries that fail
	// (see AppendResult.Err) consume no seq. A (Sender, ClientMsgID) stored
	// before, or earlier in the same batch, yields the original message with
	// Duplicate set, whatever conversation it is in (the caller compares
	// Message.Conv); so does a (Sender, PacketKey) held by a message. The
	// returned slice has one result per entry, in order.
	// A non-nil error means nothing was stored.
	//
	// Side effects in the same transaction: a KindMessage raises the sender's
	// ReadSeq to its seq (sending reads everything before it); a KindMember
	// "added"/"joined" inserts the member with JoinedSeq = seq-1 (so the
	// member sees the event of its own joining) and role Member.Role (default
	// member), deletes the user's pending invitation and join request to the
	// group (Invites, GroupLinks), or fails with ErrNotFound for a deleted
	// user and ErrLimit beyond Append.MaxMembers; "removed"/"left"
	// deletes the member and its device positions; "role" changes the role;
	// "created" is refused with ErrInvalid (only CreateGroup stores it).
	// A KindSystem with Member.Name renames the group.
	// Every entry updates the conversation's LastSeq and UpdatedAt.
	Append(ctx context.Context, entries []Append, now time.Time) ([]AppendResult, error)
	// Range returns up to limit messages of conv with after < seq < before
	// (before 0: no upper bound), ascending if asc, else descending from
	// before. Edited and deleted messages are returned in their current state.
	Range(ctx context.Context, conv string, after, before uint64, limit int, asc bool) ([]protocol.Message, error)
	// Unread counts content messages (KindMessage, not deleted) of conv with
	// seq > after not sent by user. With after at or above the user's read
	// position (max(ReadSeq, JoinedSeq), what the core passes) its cost
	// does not grow with the number of messages it counts.
	Unread(ctx context.Context, conv, user string, after uint64) (int, error)
}

// Positions stores delivery and read positions.
type Positions interface {
	// SaveAcks stores device positions, keeping the maximum of the stored and
	// given seq, and raises the member's DeliveredSeq accordingly (a start
	// position, DeviceAck.Start, raises nothing), in one transaction.
	SaveAcks(ctx context.Context, acks []DeviceAck) error
	// DevicePositions returns the device's acknowledged seq per conversation.
	DevicePositions(ctx context.Context, user, device string) (map[string]uint64, error)
	// SetRead raises the user's read position in conv to seq (never lowers
	// it; clamps to the conversation's LastSeq) and returns the new position.
	// ErrNotFound if the user is not a member.
	SetRead(ctx context.Context, conv, user string, seq uint64) (uint64, error)
}

// Retention deletes old messages. Purging removes whole rows, but only a
// prefix of each conversation in seq order, so what stays is still
// gap-free from PurgedSeq+1 to LastSeq; seqs are never reused (LastSeq is
// untouched, the next message gets LastSeq+1).
type Retention interface {
	// SetRetention sets the conversation's own retention (MaxAge); 0 goes
	// back to the global setting. It deletes nothing by itself: the next
	// Purge applies it. ErrNotFound if conv is absent; ErrInvalid if maxAge
	// is negative.
	SetRetention(ctx context.Context, conv string, maxAge time.Duration) error
	// Purge deletes messages older than their conversation's retention: the
	// conversation's MaxAge if set, else global (global 0: kept forever).
	// A message is older when its time is before now minus that age. Per
	// conversation it deletes only the longest prefix (from PurgedSeq+1 in
	// seq order) of such messages: it stops at the first younger one, so no
	// hole is ever left below a kept message, even if the clock went back.
	// It deletes at most limit messages (limit <= 0: none) in one
	// transaction, raises PurgedSeq to the highest deleted seq, and returns
	// how many it deleted. Fewer than limit means that nothing more was due
	// at now when it ran, so a caller repeats the call until then. LastSeq,
	// UpdatedAt, members, positions and read positions are not changed.
	Purge(ctx context.Context, now time.Time, global time.Duration, limit int) (purged int, err error)
}

// Erasure removes and exports a user's personal data.
type Erasure interface {
	// DeleteUser erases a user: BeginErasure, then EraseStep until it
	// reports done, each its own short write transaction so that other
	// commits run between them. When it returns nil: the user row is a
	// tombstone (DisplayName, PasswordHash and LastSeen cleared; Disabled,
	// Deleted and DeletedAt set), the user's sessions, devices, positions,
	// MQTT sessions, packet keys, tags and own blocks are deleted, and every message the user
	// sent that carries content (KindMessage and KindEdit) has its body and
	// payload cleared and Deleted set; the rows stay, so seqs stay gap-free
	// and other members' positions and unread counts stay consistent (a
	// tombstone is not unread). The user has left every conversation: in a
	// direct one the membership is simply removed; in a group a KindMember
	// "left" event (sender: the user) is appended as Append would, preceded,
	// if the user was the group's only owner and others remain, by a "role"
	// event making the successor owner (the admin, else the member, who
	// joined first; ties by user id). It returns the events of its steps in
	// commit order, for fan-out. Called again for a tombstone whose erasure
	// was interrupted (PendingErasures), it finishes the erasure and
	// returns the events of the steps it ran; for a tombstone whose erasure
	// is complete it changes nothing and returns no events. ErrNotFound for
	// an unknown user. On an error the steps committed before it stay
	// committed (their events are returned with it).
	DeleteUser(ctx context.Context, user string, now time.Time) ([]protocol.Message, error)
	// BeginErasure is the first step of DeleteUser, one transaction: the
	// user row becomes the tombstone (deleted at now), the sessions,
	// devices, positions, MQTT sessions, packet keys, tags and the blocks
	// the user made are deleted, and
	// every conversation the user was ever in (participant or member) is
	// recorded as pending, up to its last seq at this point. From then on
	// nothing of the user's can log in, and Append refuses the user as a
	// sender (ErrNotMember) although the user stays a member of the
	// pending conversations until their step; other members may still read
	// the user's messages there until then. For a user already deleted it
	// changes nothing (an interrupted erasure keeps its pending set);
	// ErrNotFound for an unknown user.
	BeginErasure(ctx context.Context, user string, now time.Time) error
	// EraseStep runs one step of user's pending erasure in one transaction
	// whose size is bounded by the backend (a bounded number of messages
	// and conversations, whatever the user's history): it clears the
	// user's content in part of the pending set, takes the user out of each
	// conversation it finishes (as DeleteUser describes; the events are
	// stamped now) and removes those from the pending set. It returns that
	// step's events in commit order, and done once nothing is pending (also
	// when nothing was: no step is needed for a user without pending work).
	EraseStep(ctx context.Context, user string, now time.Time) (events []protocol.Message, done bool, err error)
	// PendingErasures returns, sorted, the users whose erasure has begun
	// and not ended (a crash or an error between steps), whose erasure
	// DeleteUser or EraseStep finishes.
	PendingErasures(ctx context.Context) ([]string, error)
	// SentMessages returns up to limit messages (any kind) whose sender is
	// user, in their current state, ordered by (Conv, Seq) and starting
	// strictly after (afterConv, afterSeq) (both zero: from the start),
	// including those in conversations the user has left since. Pages are
	// read independently: a user who keeps sending may see a later page
	// with messages newer than an earlier one. limit <= 0 returns none.
	SentMessages(ctx context.Context, user, afterConv string, afterSeq uint64, limit int) ([]protocol.Message, error)
}

// MQTTSessions keeps persistent MQTT sessions (DESIGN.md §3): per (user,
// device), the subscriptions. Positions are not part of a session: they
// belong to the device whatever the protocol.
type MQTTSessions interface {
	// MQTTSession returns the session of (user, device). ErrNotFound if there
	// is none, or if its ExpiresAt is set and not after now (an expired
	// session may be deleted by this call).
	MQTTSession(ctx context.Context, user, device string, now time.Time) (MQTTSession, error)
	// PutMQTTSession creates or replaces the session of (s.User, s.Device)
	// with all of s's fields. It does nothing for a deleted user (no
	// session comes back after DeleteUser).
	PutMQTTSession(ctx context.Context, s MQTTSession) error
	// DeleteMQTTSession removes the session; nil if there is none.
	DeleteMQTTSession(ctx context.Context, user, device string) error
	// ReleasePacketKey frees the packet key (sender, key) (an MQTT QoS 2
	// packet id released by PUBREL; see Append.PacketKey), so that the
	// next Append with it stores a new message. The message that held it
	// is not changed. nil if no message holds it (releasing is idempotent;
	// an empty key is no key).
	ReleasePacketKey(ctx context.Context, sender, key string) error
}

// GroupCommit is the one write path of the core's committer (DESIGN.md
// §2.2 and §2.14): a batch of appends and the small writes that ride with
// it share one transaction and one synced commit.
type GroupCommit interface {
	// Commit applies entries exactly as Append does and then w, in one
	// transaction, in this order: the entries, w.Acks, w.Touches, w.Reads,
	// w.Releases, then the expiry of w.ExpireBefore (so a device touched or
	// acknowledging in the same call is judged with that touch, and an
	// expired device's positions written by w.Acks go with it). A non-nil
	// error means nothing of it was stored; otherwise every part is durable
	// when Commit returns, and the per-item failures (AppendResult.Err,
	// ReadResult.Err, a release error) affected only their own item.
	// Append(entries) is Commit(entries, Writes{}); with no entries and
	// empty writes Commit stores nothing.
	Commit(ctx context.Context, entries []Append, w Writes, now time.Time) (CommitResult, error)
}

// MQTTSession is the stored state of a persistent MQTT session.
type MQTTSession struct {
	User          string
	Device        string
	Subscriptions []MQTTSubscription // in the order they were made
	// ExpiresAt is when the session ends while its client is away; zero
	// while it is connected or if it never expires.
	ExpiresAt time.Time
}

// MQTTSubscription is one topic filter of a session with its granted QoS.
type MQTTSubscription struct {
	Filter string
	QoS    byte
}

// TokenFloors keep, per user and device, the time before which tokens
// signed by the application (which Parley cannot revoke one by one) are
// refused, so that revoking a device or all of a user's tokens holds for
// every kind of token.
type TokenFloors interface {
	// RaiseTokenFloor raises the floor of (user, device) to t (never
	// lowers it); device "" is the floor of every device of the user.
	RaiseTokenFloor(ctx context.Context, user, device string, t time.Time) error
	// TokenFloor returns the later of the user's floor and the device's;
	// zero if neither was ever raised.
	TokenFloor(ctx context.Context, user, device string) (time.Time, error)
}

// TagChange is a change of one user's tags (Tags.ChangeTags).
type TagChange struct {
	User string
	// Set adds these tags, replacing the value of a key the user has.
	Set map[string]string
	// Delete removes these keys, after Set; a key the user does not
	// have is ignored.
	Delete []string
	// Replace makes the user's tags exactly Set (Delete then changes
	// nothing more).
	Replace bool
	// Create creates the user, with no password and no display name, if
	// there is no user of that id (a deleted one still fails).
	Create bool
}

// TagResult is the outcome of one TagChange.
type TagResult struct {
	// Tags are the user's tags after the change (nil if Err is set).
	Tags map[string]string
	// Changed reports whether the tags differ from before; Created
	// whether the user was created (TagChange.Create).
	Changed, Created bool
	// Err is ErrNotFound for an unknown or deleted user and ErrLimit for
	// a change that would leave the user more tags than allowed; the
	// change is then not applied.
	Err error
}

// Tags keep users' server-side tags (key → value, at most one value per
// key), which system notices are addressed to. The store does not check
// the syntax of keys and values; the core does.
type Tags interface {
	// ChangeTags applies changes, in order, in one transaction, and
	// returns one result per change; users it creates are created at now.
	// A change that would leave its user more than max tags (max <= 0: no
	// limit), and more than before, fails with ErrLimit. Before
	// the first change of a user's tags after a notice was created, for
	// every notice still being sent (NoticeSending) that has not reached
	// the user yet, it records whether the user was in the notice's
	// audience, so that a notice's audience stays the one it had when it
	// was created (see Notices). A non-nil error means nothing changed.
	ChangeTags(ctx context.Context, changes []TagChange, max int, now time.Time) ([]TagResult, error)
	// UserTags returns user's tags, an empty map if none; ErrNotFound
	// for an unknown or deleted user.
	UserTags(ctx context.Context, user string) (map[string]string, error)
	// HasTagValue reports whether user has a tag, under any key, whose
	// value is value (false for an unknown user).
	HasTagValue(ctx context.Context, user, value string) (bool, error)
	// CountTagged returns how many users that are not deleted match expr
	// now.
	CountTagged(ctx context.Context, expr TagExpr) (int64, error)
}

// States of a Notice.
const (
	NoticeSending   = "sending"
	NoticeDone      = "done"
	NoticeCancelled = "cancelled"
)

// Notice is a system notice: one content message from
// protocol.SystemSender, stored into the system conversation of every user
// of its audience, a chunk at a time (Notices.SendNoticeChunk).
type Notice struct {
	ID string
	// To is the audience: the users who existed when the notice was
	// created (CreatedAt, to the millisecond) and matched To then.
	To          TagExpr
	CreatedBy   string
	ContentType string
	Body        string
	Payload     []byte
	CreatedAt   time.Time
	State       string // NoticeSending, NoticeDone or NoticeCancelled
	// Matched is the size of the audience, counted when sending starts
	// (CountNoticeAudience); -1 until then.
	Matched int64
	// Stored counts the copies stored; Skipped, set when sending is done,
	// the users of the audience deleted before their turn (Matched -
	// Stored); Delivered what the core reported with SendNoticeChunk and
	// AddNoticeDelivered.
	Stored, Skipped, Delivered int64
	// Cursor is where sending has got to in the order it takes the
	// audience in (the backend's, fixed for the notice); "" before the
	// first chunk.
	Cursor     string
	FinishedAt time.Time // zero while sending
}

// NoticeCopy is one copy of a notice stored by SendNoticeChunk: the entry
// of User's system conversation.
type NoticeCopy struct {
	User    string
	Message protocol.Message
}

// Notices store system notices and send them in bounded chunks. A notice's
// audience is fixed when it is created: users created later, and users
// whose tags change later (ChangeTags records how they stood), are in it
// exactly if they were then. Sending takes the audience in an order the
// backend chooses, fixed for the notice (SQLite: by system conversation id
// for an audience with a required tag, so that neighbouring copies touch
// neighbouring rows); each chunk stores its copies and advances the cursor
// in one transaction, so that a crash between chunks neither repeats nor
// skips a user.
type Notices interface {
	// CreateNotice stores n (its ID, To, CreatedBy, content and
	// CreatedAt; the rest is reset: State NoticeSending, Matched -1,
	// counters 0, Cursor ""). ErrExists if the id is taken.
	CreateNotice(ctx context.Context, n Notice) error
	// Notice returns a notice; ErrNotFound if there is none.
	Notice(ctx context.Context, id string) (Notice, error)
	// ListNotices returns up to limit notices, newest first (by
	// CreatedAt, then ID), from the one after before in that order (""
	// starts at the newest; ErrNotFound if there is no notice before).
	ListNotices(ctx context.Context, before string, limit int) ([]Notice, error)
	// SendingNotices returns the notices in state NoticeSending, oldest
	// first.
	SendingNotices(ctx context.Context) ([]Notice, error)
	// CountNoticeAudience counts the notice's audience without holding
	// writers up and, if the notice has not started yet (Matched -1 and
	// Cursor ""), stores the count as Matched. It returns the notice as
	// stored afterwards.
	CountNoticeAudience(ctx context.Context, id string) (Notice, error)
	// SendNoticeChunk stores the next copies of a notice being sent, at
	// most limit, in one transaction with the cursor's advance: the next
	// users of the audience in its order that are not deleted, scanning at
	// most a bounded number of candidate users, so that a transaction
	// stays short however selective the audience is (it may then store
	// none and still advance). It adds delivered to Delivered. When the
	// audience is exhausted the notice becomes NoticeDone (FinishedAt
	// now, Skipped set). A notice that is not sending stores nothing. It
	// returns the copies in that order and the notice afterwards.
	SendNoticeChunk(ctx context.Context, id string, limit int, delivered int64, now time.Time) ([]NoticeCopy, Notice, error)
	// AddNoticeDelivered adds n to the notice's Delivered, whatever its
	// state.
	AddNoticeDelivered(ctx context.Context, id string, n int64) error
	// CancelNotice stops sending a notice (NoticeCancelled, FinishedAt
	// now): what was stored stays. A notice that is not sending is
	// returned unchanged. ErrNotFound if there is none.
	CancelNotice(ctx context.Context, id string, now time.Time) (Notice, error)
}

// SystemConversations writes the server's entries into users' system
// conversations (protocol.ConvSystem, store.SystemConvID).
type SystemConversations interface {
	// AppendSystem stores entries in their users' system conversations in
	// one transaction, as Append does (one result per entry, in order;
	// seqs gap-free per conversation), creating each conversation, with
	// the user as its only member (role member, joined at 0), with its
	// first entry. An entry for an unknown or deleted user fails in its
	// result with ErrNotFound and consumes no seq. A non-nil error means
	// nothing was stored.
	AppendSystem(ctx context.Context, entries []SystemEntry, now time.Time) ([]AppendResult, error)
}

// Block is one entry of a user's block list: the blocked user and when.
type Block struct {
	User      string
	CreatedAt time.Time
}

// Blocks keep who blocks whom (docs/protocol.md, Blocking). A block is
// directed: user blocks blocked. The store only records blocks; the core
// decides what they refuse (direct contact both ways, presence, friend
// requests) and caches them, so a backend need not make these reads fast
// beyond an index lookup.
type Blocks interface {
	// Block records, at now, that user blocks blocked and, in the same
	// transaction, deletes the pending friend request from blocked to
	// user, if any. It reports whether the block is new: blocking again
	// changes nothing (the first time is kept) and returns false. Blocking
	// an unknown or deleted user is ErrNotFound; a new block beyond max
	// blocks of user (max <= 0: no limit) is ErrLimit. Counting and
	// inserting are one atomic step.
	Block(ctx context.Context, user, blocked string, max int, now time.Time) (bool, error)
	// Unblock removes the block of blocked by user and reports whether
	// there was one.
	Unblock(ctx context.Context, user, blocked string) (bool, error)
	// BlockList returns up to limit of the users user blocks whose id is
	// greater than after, ordered by id.
	BlockList(ctx context.Context, user, after string, limit int) ([]Block, error)
	// BlockEdges returns the users user blocks and the users who block
	// user, each ordered by id and cut at limit: a list of limit entries
	// may be incomplete (ask for one more than you keep).
	BlockEdges(ctx context.Context, user string, limit int) (blocks, blockedBy []string, err error)
	// Blocking reports whether a blocks b and whether b blocks a.
	Blocking(ctx context.Context, a, b string) (aBlocksB, bBlocksA bool, err error)
}

// Friends stores friendships and friend requests (docs/protocol.md
// §2.14). Each write checks and changes the state and appends its entries
// to the system conversations of both users (protocol.KindFriend, Sender
// the user who acted, Social.User the other user relative to the
// conversation's owner) in one transaction, so that the state and its
// events commit together; the FriendChange lists those entries. A user
// who does not exist or is deleted is ErrNotFound. Erasure
// (Erasure.BeginErasure) deletes a user's friendships, friend requests
// both ways and settings.
type Friends interface {
	// RequestFriend is from's request to be to's friend, with text. In order:
	// ErrNotFound if to is unknown or deleted, or has blocked from (a
	// blocks row user_id = to, blocked_id = from), checked in the
	// transaction, so that a requester cannot tell a block from an
	// unknown user; ErrExists if they are friends; if to has a pending
	// request to from, that request is accepted (as AnswerFriend would,
	// with from as the answerer: FriendFriends); if from has a pending
	// request to to, nothing changes (FriendPending, no events);
	// otherwise the request is stored with the entries "request" (to's)
	// and "requested" (from's), both carrying text (FriendPending).
	// from == to is ErrInvalid.
	RequestFriend(ctx context.Context, from, to, text string, now time.Time) (FriendChange, error)
	// AnswerFriend accepts or declines the pending request of from to
	// user: the request is deleted and, if accepted, the two become
	// friends (since now), with the entries "accepted" or "declined" in
	// both system conversations (FriendFriends or FriendNone).
	// ErrNotFound if there is no such request.
	AnswerFriend(ctx context.Context, user, from string, accept bool, now time.Time) (FriendChange, error)
	// WithdrawFriend deletes from's pending request to to, with the
	// entries "withdrawn" (FriendNone). ErrNotFound if there is none.
	WithdrawFriend(ctx context.Context, from, to string, now time.Time) (FriendChange, error)
	// RemoveFriend ends the friendship of user and friend, with the
	// entries "removed" (FriendNone). ErrNotFound if they are not
	// friends.
	RemoveFriend(ctx context.Context, user, friend string, now time.Time) (FriendChange, error)
	// Friends returns up to limit of user's friends with ids above after,
	// ordered by id; deleted users are left out.
	Friends(ctx context.Context, user, after string, limit int) ([]Friend, error)
	// FriendRequests returns up to limit pending requests to user
	// (incoming) or from user, ordered by the other user's id, above
	// after; those of deleted users are left out.
	FriendRequests(ctx context.Context, user string, incoming bool, after string, limit int) ([]FriendRequest, error)
	// AreFriends reports whether a and b are friends.
	AreFriends(ctx context.Context, a, b string) (bool, error)
	// FriendIDs returns the ids of all of user's friends, sorted.
	FriendIDs(ctx context.Context, user string) ([]string, error)
	// ShareGroup reports whether a and b are both current members of at
	// least one group (protocol.ConvGroup).
	ShareGroup(ctx context.Context, a, b string) (bool, error)
}

// Settings stores users' settings (user_settings). A user who never
// changed them has the zero UserSettings.
type Settings interface {
	// UserSettings returns user's settings; the zero value for a user
	// without any, known or not.
	UserSettings(ctx context.Context, user string) (UserSettings, error)
	// UpdateUserSettings changes the settings u sets and returns them all
	// as stored afterwards. ErrNotFound for an unknown or deleted user.
	UpdateUserSettings(ctx context.Context, user string, u SettingsUpdate) (UserSettings, error)
}

// Follows keep who follows whom (docs/protocol.md, "Follows and
// moments"). A follow is directed: follower follows followee. The schema
// keeps three rules of its own, in the transactions of other roles:
// friends follow each other (a friendship Friends makes adds both follows
// that are missing, marked as made by it, and ending the friendship
// removes those that it made and nobody made again since); a block
// (Blocks.Block) removes the blocked user's follow of the blocker; and
// erasure (Erasure.BeginErasure) removes the user's follows both ways.
type Follows interface {
	// Follow makes follower follow followee since now and reports whether
	// the follow is new; following again changes nothing (a follow a
	// friendship made becomes the follower's own: it stays when the
	// friendship ends). ErrNotFound if followee is unknown or deleted;
	// ErrInvalid if follower == followee; a new follow beyond max follows
	// of follower (max <= 0: no limit) is ErrLimit, counted and inserted
	// in one atomic step. Follows that friendships make are not limited.
	Follow(ctx context.Context, follower, followee string, max int, now time.Time) (bool, error)
	// Unfollow ends follower's follow of followee and reports whether
	// there was one.
	Unfollow(ctx context.Context, follower, followee string) (bool, error)
	// RemoveFollower ends follower's follow of user and reports whether
	// there was one. If there was and notify is set, the same transaction
	// appends to follower's system conversation an entry of kind
	// protocol.KindFollow (Sender user, Social {Action FollowUnsub, User
	// user}), which it returns; otherwise the entry is nil.
	RemoveFollower(ctx context.Context, user, follower string, notify bool, now time.Time) (bool, *protocol.Message, error)
	// Following returns up to limit of the users user follows whose id is
	// greater than after, ordered by id.
	Following(ctx context.Context, user, after string, limit int) ([]FollowEdge, error)
	// Followers returns up to limit of user's followers whose id is
	// greater than after, ordered by id.
	Followers(ctx context.Context, user, after string, limit int) ([]FollowEdge, error)
	// IsFollowing reports whether follower follows followee.
	IsFollowing(ctx context.Context, follower, followee string) (bool, error)
}

// Moments store moments, their comments and likes (docs/protocol.md,
// "Follows and moments"). Posting is one write whatever the number of
// followers: readers find moments through follows when they read (Feed).
// The store applies the rules it can see in its own tables (the author
// sees everything of theirs; a VisibilityList moment is shown to the
// users it lists); what depends on follows, friends and blocks the core
// decides and passes in (MomentAccess) or applies to what it reads.
// Deleting a moment deletes its comments, likes and audience; erasure
// (Erasure.BeginErasure) deletes the user's moments, comments and likes,
// and the user's place in audiences. The counts of a moment (Likes,
// Comments) always equal its rows.
type Moments interface {
	// PostMoment stores p and returns it as its author sees it; the new
	// moment's id is greater than that of every moment stored before. A
	// post whose ClientID the author used before stores nothing and
	// returns the moment stored then, with dup set.
	PostMoment(ctx context.Context, p MomentPost) (m Moment, dup bool, err error)
	// Moment returns moment id as reader sees it (Liked, Listed, and the
	// Audience for its author); ErrNotFound if there is none. It checks
	// no visibility.
	Moment(ctx context.Context, id int64, reader string) (Moment, error)
	// DeleteMoment deletes author's moment id; ErrNotFound if author has
	// no moment id.
	DeleteMoment(ctx context.Context, author string, id int64) error
	// Feed returns up to limit moments with ids below before (0: from the
	// newest), newest first, by the users reader follows and by reader:
	// reader's own, and the others' that are for followers or friends, or
	// list reader. Friends-only moments are returned whether or not their
	// author is reader's friend: the caller filters them. It stays fast
	// however many users reader follows: its cost grows with that number
	// by an index lookup each, not with their moments.
	Feed(ctx context.Context, reader string, before int64, limit int) ([]Moment, error)
	// AuthorMoments returns up to limit of author's moments with ids
	// below before (0: from the newest), newest first, that reader may
	// see: all of them if reader is author; otherwise those access allows
	// and the VisibilityList ones that list reader.
	AuthorMoments(ctx context.Context, author, reader string, access MomentAccess, before int64, limit int) ([]Moment, error)
	// AddComment stores a comment (its Moment, Author, Text, CreatedAt)
	// and returns it with its id, greater than every comment's before;
	// ErrNotFound if the moment does not exist.
	AddComment(ctx context.Context, c MomentComment) (MomentComment, error)
	// DeleteComment deletes comment id of moment if user wrote it or
	// wrote the moment; ErrNotFound if there is no such comment, or it is
	// neither's.
	DeleteComment(ctx context.Context, moment, id int64, user string) error
	// Comments returns up to limit comments of moment with ids above
	// after, oldest first.
	Comments(ctx context.Context, moment, after int64, limit int) ([]MomentComment, error)
	// Like records (like true) or takes back user's like of moment and
	// reports whether that changed anything; liking twice is one like.
	// ErrNotFound if the moment does not exist.
	Like(ctx context.Context, moment int64, user string, like bool, now time.Time) (bool, error)
	// Likes returns up to limit likes of moment by users whose id is
	// greater than after, ordered by user id.
	Likes(ctx context.Context, moment int64, after string, limit int) ([]MomentLike, error)
}

// BroadcastLists keep users' saved lists of recipients of a broadcast
// (docs/protocol.md, Broadcasts), and what a broadcast needs of the store
// besides Append: the copies a retry finds, and the direct conversations it
// opens, all in one transaction. A list belongs to its owner: every
// method takes the owner, and another user's list is ErrNotFound. The
// store does not check that members exist (the core does when they are
// added; a broadcast skips those deleted since). Erasure
// (Erasure.BeginErasure) deletes the user's lists and takes the user out
// of everyone's lists.
type BroadcastLists interface {
	// CreateBroadcastList stores l (Owner, ID, Name, CreatedAt; UpdatedAt
	// is CreatedAt) with members (repeats stored once) in one transaction
	// and returns it as stored. ErrExists if the owner has a list with
	// that ID (whatever the limits); else ErrLimit, storing nothing, if
	// the owner has maxLists lists already or members holds more than
	// maxMembers users (a max <= 0: no limit). Counting and inserting are
	// one atomic step.
	CreateBroadcastList(ctx context.Context, l BroadcastList, members []string, maxLists, maxMembers int) (BroadcastList, error)
	// BroadcastList returns owner's list id; ErrNotFound if there is none.
	BroadcastList(ctx context.Context, owner, id string) (BroadcastList, error)
	// BroadcastLists returns up to limit of owner's lists with ids above
	// after, ordered by id.
	BroadcastLists(ctx context.Context, owner, after string, limit int) ([]BroadcastList, error)
	// RenameBroadcastList sets the name of owner's list id (UpdatedAt
	// now) and returns the list; ErrNotFound if there is none.
	RenameBroadcastList(ctx context.Context, owner, id, name string, now time.Time) (BroadcastList, error)
	// DeleteBroadcastList deletes owner's list id with its members;
	// ErrNotFound if there is none.
	DeleteBroadcastList(ctx context.Context, owner, id string) error
	// ChangeBroadcastMembers adds add to owner's list id, then removes
	// remove, in one transaction, and returns the list afterwards
	// (UpdatedAt now if anything changed). Adding a member the list holds,
	// or removing one it does not, changes nothing. ErrNotFound if there
	// is no such list; ErrLimit, changing nothing, if the list would hold
	// more than max users (max <= 0: no limit) and more than before.
	ChangeBroadcastMembers(ctx context.Context, owner, id string, add, remove []string, max int, now time.Time) (BroadcastList, error)
	// BroadcastMembers returns up to limit of the users of owner's list id
	// whose id is above after, ordered by id; ErrNotFound if there is no
	// such list.
	BroadcastMembers(ctx context.Context, owner, id, after string, limit int) ([]string, error)
	// MessagesByClientID returns the messages of sender whose client
	// message id is one of ids (as Append's dedupe finds them), in no
	// particular order; ids that name none are left out.
	MessagesByClientID(ctx context.Context, sender string, ids []string) ([]protocol.Message, error)
	// EnsureDirects is EnsureDirect for many peers of one user in one
	// transaction: per peer, in order, the id of the direct conversation
	// of user and the peer, created (as EnsureDirect creates it, by user)
	// with the peer's NewID if there is none; "" for a peer that is
	// unknown or deleted, or is user (nothing is created with it). A
	// non-nil error means nothing was created.
	EnsureDirects(ctx context.Context, user string, peers []DirectPeer, now time.Time) ([]string, error)
}

// Store is the whole storage contract.
type Store interface {
	Users
	Sessions
	Devices
	Conversations
	Messages
	Positions
	Retention
	Erasure
	MQTTSessions
	GroupCommit
	TokenFloors
	Tags
	Notices
	SystemConversations
	Blocks
	Friends
	Settings
	Follows
	Moments
	Invites
	GroupLinks
	BroadcastLists
	// Close releases the store. It is safe to call once.
	Close() error
}

// Maintenance is what a backend offers operators besides Store.
type Maintenance interface {
	// Check runs a full integrity check of the stored data; nil means no
	// problem was found.
	Check(ctx context.Context) error
	// Backup writes a consistent copy of the data to path (which must not
	// exist) while the store stays in use.
	Backup(ctx context.Context, path string) error
}
