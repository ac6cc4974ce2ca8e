package parley

import (
	"context"
	"net/url"
	"strconv"

	"github.com/parley-im/parley/protocol"
)

// Blocking (docs/protocol.md, Blocking). While the user blocks another,
// neither can write to the other in their direct conversation (the other
// is refused as if the user did not exist: 404; the user gets 403
// "blocked"), neither sees the other's presence, and the other cannot ask
// the user to be friends, nor add the user to a group or invite them.
// Groups are not affected otherwise. Blocking and unblocking
// are idempotent and take effect at once; the blocked user is not told.

// Block blocks user.
func (c *Client) Block(ctx context.Context, user string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpBlock, Data: userData(user)}, true, nil)
}

// Unblock lifts the block of user.
func (c *Client) Unblock(ctx context.Context, user string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpUnblock, Data: userData(user)}, true, nil)
}

// Blocks returns a page of the users the user blocks, ordered by id, after
// the id after (empty: the first page; the page's Next for the one after
// it); limit 0 is the server's default (100), at most 500.
func (c *Client) Blocks(ctx context.Context, after string, limit int) (protocol.BlockList, error) {
	var l protocol.BlockList
	err := c.request(ctx, protocol.Request{Op: protocol.OpBlocks, Data: pageData("", after, limit)}, true, &l)
	return l, err
}

// Block blocks user (PUT /v1/blocks/{user}).
func (a *API) Block(ctx context.Context, user string) error {
	return a.do(ctx, "PUT", "/v1/blocks/"+url.PathEscape(user), nil, nil)
}

// Unblock lifts the block of user (DELETE /v1/blocks/{user}).
func (a *API) Unblock(ctx context.Context, user string) error {
	return a.do(ctx, "DELETE", "/v1/blocks/"+url.PathEscape(user), nil, nil)
}

// Blocks returns a page of the users the user blocks (GET /v1/blocks), as
// Client.Blocks does.
func (a *API) Blocks(ctx context.Context, after string, limit int) (protocol.BlockList, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/blocks"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l protocol.BlockList
	err := a.do(ctx, "GET", path, nil, &l)
	return l, err
}
