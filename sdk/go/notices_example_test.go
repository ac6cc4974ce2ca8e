package parley_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// Tag users by region and plan, many at once; an unknown user fails its
// entry alone.
func ExampleAdmin_ImportTags() {
	ctx := context.Background()
	admin := &parley.Admin{BaseURL: "http://127.0.0.1:8080", Key: "ADMIN-KEY"}
	res, err := admin.ImportTags(ctx, protocol.TagsImport{Users: []protocol.UserTags{
		{User: "alice", Tags: map[string]string{"region": "beijing", "plan": "pro"}},
		{User: "bob", Tags: map[string]string{"region": "hangzhou"}},
		{User: "carol", Tags: map[string]string{"plan": ""}}, // an empty value deletes the key
	}})
	if err != nil {
		log.Fatal(err) // 400: a malformed entry, nothing changed (the error's Field names it)
	}
	fmt.Println(res.Changed, "users changed,", res.Unchanged, "unchanged")
	for _, f := range res.Failed {
		fmt.Printf("entry %d (%s): %s\n", f.Index, f.User, f.Error)
	}
}

// Send the new-year greeting to the users of a region, and follow it until
// every copy is stored.
func ExampleAdmin_SendNotice() {
	ctx := context.Background()
	admin := &parley.Admin{BaseURL: "http://127.0.0.1:8080", Key: "ADMIN-KEY"}
	to := "region=beijing AND NOT plan=free"
	au, err := admin.Audience(ctx, to)
	if err != nil {
		log.Fatal(err) // 400 if the expression does not parse; the message names the position
	}
	fmt.Println(au.Matched, "users match", au.To)
	n, err := admin.SendNotice(ctx, protocol.NoticeRequest{To: to, Body: "Happy new year!"})
	if err != nil {
		log.Fatal(err)
	}
	n, err = admin.WaitNotice(ctx, n.ID, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s, %d of %d stored, %d delivered live\n", n.ID, n.State, n.Stored, n.Matched, n.Delivered)
}
