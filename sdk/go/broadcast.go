package parley

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Broadcasts (docs/protocol.md, Broadcasts): one request sends one message
// to many users, each of whom gets it as an ordinary message from the user
// in their direct conversation. The recipients are one of the user's
// broadcast lists (BroadcastRequest.List) or the users BroadcastRequest.To
// names. Recipients a send would refuse are skipped and reported in the
// result (BroadcastCopy.Error), the others acknowledged (BroadcastCopy.Ack).
// A broadcast is retried safely with the same ClientMsgID: nothing is sent
// twice, and the copies stored before are answered with their
// acknowledgements. The user's own devices receive every copy (sent-sync),
// with the client message id "<ClientMsgID>/<recipient>".

// Broadcast sends b (a fresh ClientMsgID if it has none) and returns the
// result once the copies are stored. Like Send, it sends again with the
// same ClientMsgID after a disconnect or a server failure, until ctx ends;
// unlike Send it does not wait out a refusal of the broadcast budget (429,
// nothing stored), whose advised delay is often minutes: it returns it.
func (c *Client) Broadcast(ctx context.Context, b protocol.BroadcastRequest) (protocol.BroadcastResult, error) {
	if b.ClientMsgID == "" {
		b.ClientMsgID = NewClientMsgID()
	}
	data, err := json.Marshal(b)
	if err != nil {
		return protocol.BroadcastResult{}, err
	}
	for {
		var res protocol.BroadcastResult
		err := c.request(ctx, protocol.Request{Op: protocol.OpBroadcast, Data: data}, false, &res)
		var pe *protocol.Error
		if !errors.Is(err, errDisconnected) && (!errors.As(err, &pe) || pe.Code < 500) {
			return res, err
		}
		select {
		case <-time.After(c.opt.ReconnectMin):
		case <-ctx.Done():
			return res, err
		}
	}
}

// CreateBroadcastList creates a list: with the id l.List (the server picks
// one if empty), a name, and its first members.
func (c *Client) CreateBroadcastList(ctx context.Context, l protocol.BroadcastListCreate) (protocol.BroadcastList, error) {
	return c.listOp(ctx, protocol.OpBroadcastListCreate, l)
}

// BroadcastList returns one of the user's lists.
func (c *Client) BroadcastList(ctx context.Context, list string) (protocol.BroadcastList, error) {
	return c.listOp(ctx, protocol.OpBroadcastList, listData{List: list})
}

// RenameBroadcastList renames one of the user's lists.
func (c *Client) RenameBroadcastList(ctx context.Context, list, name string) (protocol.BroadcastList, error) {
	return c.listOp(ctx, protocol.OpBroadcastListRename, listData{List: list, Name: name})
}

// ChangeBroadcastList adds users to one of the user's lists and removes
// others, in one step, and returns the list afterwards.
func (c *Client) ChangeBroadcastList(ctx context.Context, list string, add, remove []string) (protocol.BroadcastList, error) {
	return c.listOp(ctx, protocol.OpBroadcastListChange, listData{List: list, Add: add, Remove: remove})
}

// DeleteBroadcastList deletes one of the user's lists.
func (c *Client) DeleteBroadcastList(ctx context.Context, list string) error {
	data, _ := json.Marshal(listData{List: list})
	return c.request(ctx, protocol.Request{Op: protocol.OpBroadcastListDelete, Data: data}, true, nil)
}

// BroadcastLists returns a page of the user's lists, ordered by id, after
// the id after (empty: the first page; the page's Next for the one after
// it); limit 0 is the server's default (100), at most 1000.
func (c *Client) BroadcastLists(ctx context.Context, after string, limit int) (protocol.BroadcastListPage, error) {
	data, _ := json.Marshal(listData{After: after, Limit: limit})
	var p protocol.BroadcastListPage
	err := c.request(ctx, protocol.Request{Op: protocol.OpBroadcastLists, Data: data}, true, &p)
	return p, err
}

// BroadcastMembers returns a page of the users of one of the user's lists,
// ordered by id, as BroadcastLists pages.
func (c *Client) BroadcastMembers(ctx context.Context, list, after string, limit int) (protocol.BroadcastMemberPage, error) {
	data, _ := json.Marshal(listData{List: list, After: after, Limit: limit})
	var p protocol.BroadcastMemberPage
	err := c.request(ctx, protocol.Request{Op: protocol.OpBroadcastListMembers, Data: data}, true, &p)
	return p, err
}

// listData are the arguments of the list ops (each takes some of them).
type listData struct {
	List   string   `json:"list,omitempty"`
	Name   string   `json:"name,omitempty"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
	After  string   `json:"after,omitempty"`
	Limit  int      `json:"limit,omitempty"`
}

func (c *Client) listOp(ctx context.Context, op string, args any) (protocol.BroadcastList, error) {
	data, err := json.Marshal(args)
	if err != nil {
		return protocol.BroadcastList{}, err
	}
	var l protocol.BroadcastList
	err = c.request(ctx, protocol.Request{Op: op, Data: data}, true, &l)
	return l, err
}

// Broadcast sends b over HTTP (POST /v1/broadcasts; a fresh ClientMsgID if
// it has none) and returns the result. After an error other than a 4xx,
// call it again with the same b.ClientMsgID: nothing is sent twice.
func (a *API) Broadcast(ctx context.Context, b protocol.BroadcastRequest) (protocol.BroadcastResult, error) {
	if b.ClientMsgID == "" {
		b.ClientMsgID = NewClientMsgID()
	}
	var res protocol.BroadcastResult
	err := a.do(ctx, "POST", "/v1/broadcasts", b, &res)
	return res, err
}

// CreateBroadcastList creates a list (POST /v1/broadcast-lists), as
// Client.CreateBroadcastList does.
func (a *API) CreateBroadcastList(ctx context.Context, l protocol.BroadcastListCreate) (protocol.BroadcastList, error) {
	var out protocol.BroadcastList
	err := a.do(ctx, "POST", "/v1/broadcast-lists", l, &out)
	return out, err
}

// BroadcastList returns one of the user's lists (GET
// /v1/broadcast-lists/{list}).
func (a *API) BroadcastList(ctx context.Context, list string) (protocol.BroadcastList, error) {
	var out protocol.BroadcastList
	err := a.do(ctx, "GET", listPath(list), nil, &out)
	return out, err
}

// RenameBroadcastList renames one of the user's lists (PATCH
// /v1/broadcast-lists/{list}).
func (a *API) RenameBroadcastList(ctx context.Context, list, name string) (protocol.BroadcastList, error) {
	var out protocol.BroadcastList
	err := a.do(ctx, "PATCH", listPath(list), map[string]string{"name": name}, &out)
	return out, err
}

// ChangeBroadcastList adds and removes users of one of the user's lists
// (POST /v1/broadcast-lists/{list}/members).
func (a *API) ChangeBroadcastList(ctx context.Context, list string, add, remove []string) (protocol.BroadcastList, error) {
	var out protocol.BroadcastList
	err := a.do(ctx, "POST", listPath(list)+"/members", protocol.BroadcastListChange{Add: add, Remove: remove}, &out)
	return out, err
}

// DeleteBroadcastList deletes one of the user's lists (DELETE
// /v1/broadcast-lists/{list}).
func (a *API) DeleteBroadcastList(ctx context.Context, list string) error {
	return a.do(ctx, "DELETE", listPath(list), nil, nil)
}

// BroadcastLists pages the user's lists (GET /v1/broadcast-lists), as
// Client.BroadcastLists does.
func (a *API) BroadcastLists(ctx context.Context, after string, limit int) (protocol.BroadcastListPage, error) {
	var out protocol.BroadcastListPage
	err := a.do(ctx, "GET", "/v1/broadcast-lists"+listPageQuery(after, limit), nil, &out)
	return out, err
}

// BroadcastMembers pages the users of one of the user's lists (GET
// /v1/broadcast-lists/{list}/members).
func (a *API) BroadcastMembers(ctx context.Context, list, after string, limit int) (protocol.BroadcastMemberPage, error) {
	var out protocol.BroadcastMemberPage
	err := a.do(ctx, "GET", listPath(list)+"/members"+listPageQuery(after, limit), nil, &out)
	return out, err
}

func listPath(list string) string { return "/v1/broadcast-lists/" + url.PathEscape(list) }

// listPageQuery is "?after=&limit=" with what is set, or "".
func listPageQuery(after string, limit int) string {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
