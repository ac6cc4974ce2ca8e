package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// Roles decide who may rename, add and remove; ownership can be handed
// over; the owner must do so before leaving; a member may leave.
func TestGroupRolesRenameLeave(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"own", "adm", "mem"} {
		s.user(u)
	}
	ctx := ctxT(t)
	own := s.login("own", "web")
	adm := s.login("adm", "web")
	mem := s.login("mem", "web")
	g, err := own.CreateGroup(ctx, "team", "adm", "mem")
	if err != nil {
		t.Fatal(err)
	}
	patch := func(api *parley.API, path string, body any) (int, []byte) {
		return httpDo(t, "PATCH", s.URL+"/v1/conversations/"+g.ID+path, api.Token, body)
	}
	if status, b := patch(mem, "", map[string]string{"name": "mine"}); status != 403 {
		t.Fatalf("member renaming: %d %s", status, b)
	}
	if status, b := patch(own, "/members/adm", map[string]string{"role": "admin"}); status != 200 {
		t.Fatalf("owner promoting: %d %s", status, b)
	}
	if status, b := patch(adm, "/members/mem", map[string]string{"role": "admin"}); status != 403 {
		t.Fatalf("admin promoting: %d %s", status, b)
	}
	if status, b := patch(adm, "", map[string]string{"name": "renamed"}); status != 200 {
		t.Fatalf("admin renaming: %d %s", status, b)
	}
	c, err := (&parley.API{BaseURL: s.URL, Token: mem.Token}).Conversations(ctx)
	if err != nil || len(c.Conversations) != 1 || c.Conversations[0].Name != "renamed" {
		t.Fatalf("conversation after rename: %+v %v", c, err)
	}
	if status, b := httpDo(t, "POST", s.URL+"/v1/conversations/"+g.ID+"/leave", own.Token, nil); status != 422 {
		t.Fatalf("owner leaving first: %d %s", status, b)
	}
	if status, b := patch(own, "/members/adm", map[string]string{"role": "owner"}); status != 200 {
		t.Fatalf("handing over: %d %s", status, b)
	}
	ms, err := own.Members(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, m := range ms {
		roles[m.User] = m.Role
	}
	if roles["adm"] != protocol.RoleOwner || roles["own"] != protocol.RoleAdmin {
		t.Fatalf("roles after handing over: %v", roles)
	}
	if status, b := httpDo(t, "POST", s.URL+"/v1/conversations/"+g.ID+"/leave", mem.Token, nil); status != 200 {
		t.Fatalf("member leaving: %d %s", status, b)
	}
	if _, err := mem.History(ctx, g.ID, parley.HistoryOptions{}); !isCode(err, protocol.CodeNotFound) {
		t.Fatalf("history after leaving: %v, want 404", err)
	}
	h, err := own.History(ctx, g.ID, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	last := h.Messages[len(h.Messages)-1]
	if last.Kind != protocol.KindMember || last.Member.Action != protocol.MemberLeft || last.Member.User != "mem" {
		t.Fatalf("last event %+v, want mem left", last)
	}
}

// The conversation list is newest activity first, paged with a cursor, and
// the total unread covers every page.
func TestConversationListPaging(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("zed")
	ctx := ctxT(t)
	var order []string
	for i := 0; i < 5; i++ {
		u := s.user(fmt.Sprintf("peer%d", i))
		ack, err := s.login(u, "web").Send(ctx, "", parley.SendOptions{To: "zed", Body: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		order = append([]string{ack.Conv}, order...)
		time.Sleep(2 * time.Millisecond) // distinct activity times
	}
	me := s.dial("zed", "phone")
	var got []string
	cursor := ""
	for page := 0; page < 5; page++ {
		l, err := me.Conversations(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if l.TotalUnread != 5 {
			t.Fatalf("total unread %d on page %d, want 5", l.TotalUnread, page)
		}
		for _, c := range l.Conversations {
			got = append(got, c.ID)
			if c.Unread != 1 || c.LastMessage == nil || c.LastMessage.Body != "hi" || c.Kind != protocol.ConvDirect || c.Peer == "" {
				t.Fatalf("summary %+v", c)
			}
		}
		if cursor = l.Next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(order) {
		t.Fatalf("order %v, want newest first %v", got, order)
	}
}
