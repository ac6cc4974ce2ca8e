package protocol_test

import (
	"encoding/json"
	"fmt"

	"github.com/parley-im/parley/protocol"
)

// A server frame as written on the WebSocket: the reply to request "7".
func ExampleMarshal() {
	b := protocol.Marshal("7", protocol.TypeAck, &protocol.Ack{Conv: "g_team", Seq: 42, ID: "m42", ClientMsgID: "c-1", Time: 1700000000000})
	fmt.Println(string(b))
	// Output: {"id":"7","type":"ack","data":{"conv":"g_team","seq":42,"id":"m42","client_msg_id":"c-1","time":1700000000000}}
}

// A client reads a frame and, for an error, decides what to do from the
// code range.
func ExampleError() {
	frame := []byte(`{"id":"3","type":"error","error":{"code":400,"reason":"bad_request","message":"seq must be uint64","field":"seq"}}`)
	var f protocol.Frame
	if err := json.Unmarshal(frame, &f); err != nil {
		panic(err)
	}
	if f.Type == protocol.TypeError {
		switch e := f.Error; {
		case e.Code >= 500:
			fmt.Println("retry later with the same client_msg_id:", e)
		case e.Code >= 400:
			fmt.Printf("fix field %q, do not retry: %v\n", e.Field, e)
		}
	}
	// Output: fix field "seq", do not retry: 400 bad_request: seq must be uint64
}
