package parley_test

import (
	"context"
	"fmt"
	"log"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// Ask a user to be friends, and follow what becomes of it: the answer
// arrives, on every device, as an entry of the user's system conversation.
func ExampleClient_RequestFriend() {
	ctx := context.Background()
	c, err := parley.Dial(ctx, parley.Options{URL: "http://127.0.0.1:8080", Token: "…"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	st, err := c.RequestFriend(ctx, "bob", "Hi Bob, it's Alice from the climbing club")
	if err != nil {
		log.Fatal(err) // 404: no such user; 409 already_friends; 429: too many requests
	}
	fmt.Println("bob:", st.Status) // pending, or friends if bob had asked first
	for m := range c.Messages() {
		if m.Kind == protocol.KindFriend && m.Social.User == "bob" && m.From == "bob" {
			fmt.Println("bob", m.Social.Action) // accepted or declined
			return
		}
	}
}

// Accept direct messages from friends and group co-members only.
func ExampleClient_UpdateSettings() {
	ctx := context.Background()
	c, err := parley.Dial(ctx, parley.Options{URL: "http://127.0.0.1:8080", Token: "…"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	friends := protocol.InboundFriends
	s, err := c.UpdateSettings(ctx, parley.SettingsUpdate{Inbound: &friends})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("direct messages from:", s.Inbound)
}
