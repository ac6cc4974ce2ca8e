package core

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// MaxTagsImport is the most users one TagsImport may name; `parley tags
// import` sends a longer file in parts of this size.
const MaxTagsImport = 10_000

// tagsPerTx bounds the users whose tags one store transaction changes, so
// that an import does not hold the store's writer for long.
const tagsPerTx = 1000

// UserTags returns a user's tags; store.ErrNotFound for an unknown or
// deleted user.
func (c *Core) UserTags(ctx context.Context, user string) (protocol.UserTags, error) {
	tags, err := c.st.UserTags(ctx, user)
	if err != nil {
		return protocol.UserTags{}, fmt.Errorf("tags of %s: %w", user, err)
	}
	return protocol.UserTags{User: user, Tags: tags}, nil
}

// SetTags replaces a user's tags with tags (none: removes them all) and
// returns them.
func (c *Core) SetTags(ctx context.Context, user string, tags map[string]string) (protocol.UserTags, error) {
	return c.changeTags(ctx, store.TagChange{User: user, Set: tags, Replace: true})
}

// UpdateTags sets the keys of set (replacing their values) and then
// deletes the keys of del, leaving the user's other tags as they are, and
// returns the user's tags.
func (c *Core) UpdateTags(ctx context.Context, user string, set map[string]string, del []string) (protocol.UserTags, error) {
	return c.changeTags(ctx, store.TagChange{User: user, Set: set, Delete: del})
}

func (c *Core) changeTags(ctx context.Context, ch store.TagChange) (protocol.UserTags, error) {
	if err := checkTagChange(ch, "tags"); err != nil {
		return protocol.UserTags{}, err
	}
	res, err := c.st.ChangeTags(ctx, []store.TagChange{ch}, c.notices.opt.TagsPerUser, c.now())
	if err != nil {
		return protocol.UserTags{}, fmt.Errorf("change tags: %w", err)
	}
	if err := c.tagError(res[0].Err); err != nil {
		return protocol.UserTags{}, err
	}
	return protocol.UserTags{User: ch.User, Tags: res[0].Tags}, nil
}

// tagError maps a TagResult's error: the limit is the client's mistake.
func (c *Core) tagError(err error) error {
	if errors.Is(err, store.ErrLimit) {
		return badField("tags", "a user may carry at most %d tags (notices.tags_per_user)", c.notices.opt.TagsPerUser)
	}
	return err
}

// checkTagChange validates the keys and values of ch; field names the
// request field for errors.
func checkTagChange(ch store.TagChange, field string) error {
	for k, v := range ch.Set {
		if err := ValidateTagKey(k); err != nil {
			return badField(field, "%v", err)
		}
		if err := ValidateTagValue(v); err != nil {
			return badField(field, "%v", err)
		}
	}
	for _, k := range ch.Delete {
		if err := ValidateTagKey(k); err != nil {
			return badField(field, "%v", err)
		}
	}
	return nil
}

// ImportTags changes the tags of up to MaxTagsImport users (see
// protocol.TagsImport), in transactions of at most a thousand users. The
// whole request is validated first: a malformed entry fails the request
// and changes nothing. Entries then fail one by one (an unknown user, a
// user over the tags limit) without affecting the others; importing the
// same file again changes nothing more.
func (c *Core) ImportTags(ctx context.Context, r protocol.TagsImport) (protocol.TagsImportResult, error) {
	res := protocol.TagsImportResult{Failed: []protocol.TagsImportFailure{}}
	if len(r.Users) > MaxTagsImport {
		return res, badField("users", "at most %d users per import", MaxTagsImport)
	}
	changes := make([]store.TagChange, len(r.Users))
	for i, u := range r.Users {
		ch := store.TagChange{User: u.User, Replace: r.Replace, Create: r.CreateUsers, Set: map[string]string{}}
		for k, v := range u.Tags {
			switch {
			case v != "":
				ch.Set[k] = v
			case !r.Replace:
				ch.Delete = append(ch.Delete, k)
			}
		}
		sort.Strings(ch.Delete)
		field := fmt.Sprintf("users[%d]", i)
		if err := ValidateUserID(u.User); err != nil {
			return res, badField(field, "%q is not a valid user id", u.User)
		}
		if err := checkTagChange(ch, field); err != nil {
			return res, err
		}
		if max := c.notices.opt.TagsPerUser; max > 0 && len(ch.Set) > max {
			return res, badField(field, "%d tags: a user may carry at most %d (notices.tags_per_user)", len(ch.Set), max)
		}
		changes[i] = ch
	}
	for start := 0; start < len(changes); start += tagsPerTx {
		part := changes[start:min(start+tagsPerTx, len(changes))]
		out, err := c.st.ChangeTags(ctx, part, c.notices.opt.TagsPerUser, c.now())
		if err != nil {
			return res, fmt.Errorf("import tags: %w", err)
		}
		for i, o := range out {
			switch {
			case o.Err != nil:
				msg := "no such user"
				if errors.Is(o.Err, store.ErrLimit) {
					msg = fmt.Sprintf("more than %d tags (notices.tags_per_user)", c.notices.opt.TagsPerUser)
				}
				res.Failed = append(res.Failed, protocol.TagsImportFailure{Index: start + i, User: part[i].User, Error: msg})
				continue
			case o.Changed:
				res.Changed++
			default:
				res.Unchanged++
			}
			if o.Created {
				res.Created++
			}
		}
	}
	return res, nil
}

// Audience returns how many users a tag expression matches now.
func (c *Core) Audience(ctx context.Context, expr string) (protocol.Audience, error) {
	e, err := ParseTagExpr(expr)
	if err != nil {
		return protocol.Audience{}, exprField("to", err)
	}
	n, err := c.st.CountTagged(ctx, e)
	if err != nil {
		return protocol.Audience{}, fmt.Errorf("audience: %w", err)
	}
	return protocol.Audience{To: e.String(), Matched: n, Values: nonNil(e.Values())}, nil
}

// CarriesTagValue reports whether user carries a tag, under any key,
// whose value is value: whether the user may subscribe to MQTT's
// IMS/System/<value>.
func (c *Core) CarriesTagValue(ctx context.Context, user, value string) (bool, error) {
	if ValidateTagValue(value) != nil {
		return false, nil
	}
	return c.st.HasTagValue(ctx, user, value)
}

// exprField is a bad request for a tag expression in field.
func exprField(field string, err error) error {
	var pe *TagExprError
	if errors.As(err, &pe) {
		return badField(field, "tag expression, at %d: %s", pe.Pos, pe.Msg)
	}
	return badField(field, "%v", err)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
