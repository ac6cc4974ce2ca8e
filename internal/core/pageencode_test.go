package core

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"

	"github.com/parley-im/parley/protocol"
)

// TestEncodePageIsMarshal: a page event's payload is what json.Marshal
// makes of the page, and each of MessagePayloads is its message's
// encoding, within those same bytes (encoded once).
func TestEncodePageIsMarshal(t *testing.T) {
	msgs := []protocol.Message{
		{Conv: "d_x", Seq: 1, ID: "a", From: "alice", ClientMsgID: "c1", Kind: protocol.KindMessage, Body: "<b>&'\"\u2028", Time: 5},
		{Conv: "d_x", Seq: 2, ID: "b", From: "bob", Kind: protocol.KindMessage, Payload: json.RawMessage(`{"k": [1, 2]}`), Encrypted: true, Time: 6},
		{Conv: "d_x", Seq: 3, ID: "c", From: "bob", Kind: protocol.KindMember, Member: &protocol.MemberChange{User: "carol", Action: protocol.MemberAdded}, Time: 7},
	}
	for _, p := range []*protocol.Page{
		{Conv: "d_x", Messages: msgs},
		{Conv: "g_<y>", Messages: msgs[:1], StartSeq: 1, More: true},
		{Conv: "d_x", Messages: []protocol.Message{}, StartSeq: 18446744073709551615},
		{Conv: "d_x"},
	} {
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		ev := &Event{Type: protocol.TypePage, Conv: p.Conv, Data: p}
		if got := ev.Payload(); !bytes.Equal(got, want) {
			t.Fatalf("payload\n%s\nwant\n%s", got, want)
		}
		raw := ev.MessagePayloads()
		if len(raw) != len(p.Messages) {
			t.Fatalf("%d message payloads for %d messages", len(raw), len(p.Messages))
		}
		for i := range raw {
			m, _ := json.Marshal(&p.Messages[i])
			if !bytes.Equal(raw[i], m) {
				t.Fatalf("message %d: %s, want %s", i, raw[i], m)
			}
			pl := ev.Payload()
			lo, at := uintptr(unsafe.Pointer(unsafe.SliceData(pl))), uintptr(unsafe.Pointer(unsafe.SliceData(raw[i])))
			if at < lo || at+uintptr(len(raw[i])) > lo+uintptr(len(pl)) {
				t.Fatalf("message %d is a copy, not the page's bytes", i)
			}
		}
	}
	// encodePage writes protocol.Page's fields itself: a new field must be
	// added there too.
	var fields []string
	pt := reflect.TypeOf(protocol.Page{})
	for i := range pt.NumField() {
		fields = append(fields, pt.Field(i).Tag.Get("json"))
	}
	if want := []string{"conv", "messages", "start_seq,omitempty", "more,omitempty"}; !reflect.DeepEqual(fields, want) {
		t.Fatalf("protocol.Page has the fields %q; encodePage writes %q", fields, want)
	}
	if (&Event{Type: protocol.TypeMsg, Msg: &msgs[0]}).MessagePayloads() != nil {
		t.Fatal("message payloads of an event that is not a page")
	}
}
