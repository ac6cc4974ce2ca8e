package e2e

import (
	"encoding/json"
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

// Creating a group of 20 members who are all online is one event for each
// of their devices, the creation at seq 1, and no "added" event per
// member (which made n² deliveries: each device got one per member); the
// members come from the members operation.
func TestGroupCreationIsOneEventPerDevice(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	const n = 20
	users := make([]string, n)
	for i := range users {
		users[i] = s.user(fmt.Sprintf("gm%02d", i)) // gm00 creates the group
	}
	type device struct {
		name string
		c    *wsrConn
	}
	var devices []device
	for _, u := range users {
		devices = append(devices, device{u + "/phone", wsrLogin(t, s, u, "phone")})
	}
	devices = append(devices, device{users[0] + "/tablet", wsrLogin(t, s, users[0], "tablet")},
		device{users[1] + "/tablet", wsrLogin(t, s, users[1], "tablet")})
	for _, d := range devices {
		d.c.resume()
	}

	ctx := ctxT(t)
	owner := s.login(users[0], "web")
	g, err := owner.CreateGroup(ctx, "twenty", append(users[1:], users[1])...) // a repeat too
	if err != nil {
		t.Fatal(err)
	}
	if g.LastSeq != 1 {
		t.Fatalf("created %+v, want last seq 1: one entry", g)
	}
	marker, err := owner.Send(ctx, g.ID, parley.SendOptions{Body: "marker"})
	if err != nil {
		t.Fatal(err)
	}
	if marker.Seq != 2 {
		t.Fatalf("the first message is seq %d, want 2", marker.Seq)
	}

	for _, d := range devices {
		// Everything of the group up to the marker, live or as a page.
		var got []protocol.Message
		for len(got) == 0 || got[len(got)-1].Seq < marker.Seq {
			f := d.c.next()
			var ms []protocol.Message
			switch f.Type {
			case protocol.TypeMsg:
				var m protocol.Message
				if err := json.Unmarshal(f.Data, &m); err != nil {
					t.Fatal(err)
				}
				ms = append(ms, m)
			case protocol.TypePage:
				var p protocol.Page
				if err := json.Unmarshal(f.Data, &p); err != nil {
					t.Fatal(err)
				}
				ms = p.Messages
			}
			for _, m := range ms {
				if m.Conv == g.ID {
					got = append(got, m)
				}
			}
		}
		var membership []protocol.Message
		for _, m := range got {
			if m.Kind == protocol.KindMember {
				membership = append(membership, m)
			}
		}
		if len(membership) != 1 || len(got) != 2 {
			t.Fatalf("%s received %d entries of the group up to the marker, %d of them membership events, want the creation and the marker: %+v",
				d.name, len(got), len(membership), got)
		}
		c := membership[0]
		if c.Seq != 1 || c.From != users[0] || c.Member == nil ||
			*c.Member != (protocol.MemberChange{User: users[0], Action: protocol.MemberCreated, Name: "twenty"}) {
			t.Fatalf("%s's membership event = %+v (member %+v), want %s's creation of twenty at seq 1", d.name, c, c.Member, users[0])
		}
		if m := got[1]; m.Seq != marker.Seq || m.Body != "marker" {
			t.Fatalf("%s's second entry = %+v, want the marker", d.name, m)
		}
	}

	ms, err := s.login(users[n-1], "web").Members(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != n {
		t.Fatalf("%d members, want %d: %+v", len(ms), n, ms)
	}
	for i, m := range ms { // ordered by user id
		role := protocol.RoleMember
		if i == 0 {
			role = protocol.RoleOwner
		}
		if m.User != users[i] || m.Role != role || m.JoinedSeq != 0 {
			t.Fatalf("member %d = %+v, want %s with role %s joined at 0", i, m, users[i], role)
		}
	}
}
