package parley_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// These examples need a running server (`parley serve`), so they have no
// Output comment: they are compiled, not run.

// Sign in over HTTP to get an access token for a device.
func ExampleAPI_Login() {
	ctx := context.Background()
	api := &parley.API{BaseURL: "http://127.0.0.1:8080"}
	tok, err := api.Login(ctx, "alice", "alice's password", "phone")
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == protocol.CodeUnauthorized {
			log.Fatal("wrong user name or password")
		}
		log.Fatal(err)
	}
	api.Token = tok.AccessToken // later calls act as alice on her phone
	fmt.Println("signed in as", tok.User, "on", tok.Device, "for", tok.ExpiresIn, "seconds")
}

// Connect a client. Dial signs in with the token, resumes from the
// server's positions and keeps the connection up (reconnecting and
// resuming by itself) until Close.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api := &parley.API{BaseURL: "http://127.0.0.1:8080"}
	tok, err := api.Login(ctx, "alice", "alice's password", "phone")
	if err != nil {
		log.Fatal(err)
	}
	c, err := parley.Dial(ctx, parley.Options{
		URL:   "http://127.0.0.1:8080",
		Token: tok.AccessToken,
		// To refresh tokens across reconnects, set TokenFunc instead of Token.
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("connected as", c.User(), "on", c.Device())
}

// Send a message. The acknowledgement comes only once the message is
// durably stored; a send interrupted by a disconnect is retried with the
// same client message id, so it is stored once.
func ExampleClient_Send() {
	ctx := context.Background()
	c, err := parley.Dial(ctx, parley.Options{URL: "http://127.0.0.1:8080", Token: "ACCESS-TOKEN"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// To a user: the direct conversation is created on first use.
	ack, err := c.Send(ctx, parley.SendOptions{To: "bob", Body: "hi Bob"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stored in %s as seq %d\n", ack.Conv, ack.Seq)

	// To a conversation, replying in the same one.
	if _, err := c.Send(ctx, parley.SendOptions{Conv: ack.Conv, Body: "are you there?"}); err != nil {
		log.Fatal(err)
	}
}

// Receive messages: in seq order per conversation, each once (repeats after
// a reconnect are dropped), acknowledged automatically unless ManualAck.
// Receipts, read states and typing arrive on Events.
func ExampleClient_Messages() {
	ctx := context.Background()
	c, err := parley.Dial(ctx, parley.Options{URL: "http://127.0.0.1:8080", Token: "ACCESS-TOKEN"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return // closed
			}
			if m.From == c.User() {
				continue // our own message, sent from this or another device
			}
			fmt.Printf("[%s #%d] %s: %s\n", m.Conv, m.Seq, m.From, m.Body)
		case e, ok := <-c.Events():
			if !ok {
				return
			}
			if e.Type == protocol.TypeReceipt && e.Receipt.Read > 0 {
				fmt.Printf("%s read %s up to #%d\n", e.Receipt.User, e.Receipt.Conv, e.Receipt.Read)
			}
		}
	}
}

// Mark a conversation read: every device of the user gets the new unread
// counts, and in a direct conversation the peer gets a read receipt.
func ExampleClient_Read() {
	ctx := context.Background()
	c, err := parley.Dial(ctx, parley.Options{URL: "http://127.0.0.1:8080", Token: "ACCESS-TOKEN"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	m := <-c.Messages()
	st, err := c.Read(ctx, m.Conv, m.Seq)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d unread, %d in all conversations\n", st.Conv, st.Unread, st.TotalUnread)
}

// Page back through a conversation's history, newest page first.
func ExampleClient_History() {
	ctx := context.Background()
	c, err := parley.Dial(ctx, parley.Options{URL: "http://127.0.0.1:8080", Token: "ACCESS-TOKEN"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	conv := "g_team"
	page, err := c.History(ctx, conv, parley.HistoryOptions{Limit: 50})
	for err == nil && len(page.Messages) > 0 {
		for _, m := range page.Messages { // ascending seq within a page
			fmt.Printf("#%d %s: %s\n", m.Seq, m.From, m.Body)
		}
		if !page.More {
			break
		}
		page, err = c.History(ctx, conv, parley.HistoryOptions{Before: parley.Seq(page.Messages[0].Seq), Limit: 50})
	}
	if err != nil {
		log.Fatal(err)
	}
}

// Ask which of the user's contacts are online, over HTTP. Users whose
// presence the user may not see are left out of the answer.
func ExampleAPI_Presence() {
	ctx := context.Background()
	api := &parley.API{BaseURL: "http://127.0.0.1:8080", Token: "ACCESS-TOKEN"}
	ps, err := api.Presence(ctx, "bob", "carol")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range ps {
		if p.Online {
			fmt.Println(p.User, "is online")
		} else if p.LastSeen > 0 {
			fmt.Println(p.User, "was last seen", time.UnixMilli(p.LastSeen).Format(time.Kitchen))
		}
	}
}
