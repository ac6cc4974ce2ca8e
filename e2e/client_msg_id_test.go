package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// TestClientMsgIDOfAnotherConversation: a send whose client_msg_id alice
// already used in another conversation is refused with 409
// client_msg_id_in_use on every gateway, stores nothing, and is never
// answered with the other conversation's acknowledgement; a retry in the
// conversation of the first send is still a duplicate.
func TestClientMsgIDOfAnotherConversation(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	s.user("carol")
	ws := s.dial("alice", "phone")
	first, err := ws.Send(ctxT(t), parley.SendOptions{To: "bob", ClientMsgID: "cmid-1", Body: "to bob"})
	if err != nil {
		t.Fatal(err)
	}
	api := s.login("alice", "web")
	withCarol, err := api.Direct(ctxT(t), "carol")
	if err != nil {
		t.Fatal(err)
	}
	inUse := func(how string, err error) {
		t.Helper()
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeConflict || pe.Reason != "client_msg_id_in_use" || pe.Field != "client_msg_id" {
			t.Fatalf("%s: %v, want 409 client_msg_id_in_use", how, err)
		}
	}

	// WebSocket, by conversation and by user.
	ack, err := ws.Send(ctxT(t), parley.SendOptions{Conv: withCarol.ID, ClientMsgID: "cmid-1", Body: "to carol"})
	inUse("websocket send to carol's conversation", err)
	if ack.Conv == first.Conv {
		t.Fatalf("websocket: the other conversation's ack %+v", ack)
	}
	_, err = ws.Send(ctxT(t), parley.SendOptions{To: "carol", ClientMsgID: "cmid-1", Body: "to carol"})
	inUse("websocket send to carol", err)

	// HTTP.
	_, err = api.Send(ctxT(t), withCarol.ID, parley.SendOptions{ClientMsgID: "cmid-1", Body: "to carol"})
	inUse("HTTP send", err)

	// MQTT 5: PUBACK 0x83 with the reason; MQTT 3.1.1: the Error topic,
	// then the connection is closed without a PUBACK.
	m5 := mhLogin(t, s, true, "alice", "mqtt5", true)
	m5.put(mhPublish(true, mhPub{topic: "IMS/p2p/carol", qos: 1, pid: 3, payload: `{"body":"to carol","client_msg_id":"cmid-1"}`}))
	if _, code, props := m5.expect(mhPUBACK, 5*time.Second).ack(t); code != 0x83 || props.userProp("conv") != "" {
		t.Fatalf("MQTT 5 PUBACK 0x%02x %v, want 0x83 and no ack", code, props.user)
	}
	m3 := mhLogin(t, s, false, "alice", "mqtt3", true)
	m3.put(mhSubscribe(false, 1, "IMS/alice/Inbox/Error"))
	m3.expect(mhSUBACK, 5*time.Second)
	m3.put(mhPublish(false, mhPub{topic: "IMS/p2p/carol", qos: 1, pid: 4, payload: `{"body":"to carol","client_msg_id":"cmid-1"}`}))
	m3.closedWith("MQTT 3.1.1 publish with a client_msg_id of another conversation", 5*time.Second)
	if len(m3.pubs) != 1 || !strings.Contains(string(m3.pubs[0].body), `{"code":409,"reason":"client_msg_id_in_use"`) {
		t.Fatalf("MQTT 3.1.1 error notices: %v", m3.pubs)
	}

	// Nothing reached carol's conversation; bob's has the first send once,
	// and a retry there is still its duplicate.
	page, err := api.History(ctxT(t), withCarol.ID, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 0 {
		t.Fatalf("carol's conversation has %+v", page.Messages)
	}
	again, err := api.Send(ctxT(t), first.Conv, parley.SendOptions{ClientMsgID: "cmid-1", Body: "to bob"})
	if err != nil || !again.Duplicate || again.Seq != first.Seq || again.ID != first.ID {
		t.Fatalf("retry to bob: %+v, %v, want the duplicate of %+v", again, err, first)
	}
}
