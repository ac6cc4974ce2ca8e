package parley

import (
	"context"
	"net/http"
)

// Admin calls Parley's admin API (docs/protocol.md 5.4) with the server's
// admin key (auth.admin_key). With admin.addr set, the admin API is served
// on that listener only: BaseURL names it. An error response becomes a
// *protocol.Error, as with API; a wrong or missing key is 401, and an
// address that fails the key too often is refused (429) for a while, the
// right key included.
//
// The admin key acts for the whole server: keep it on the servers and
// tools that administer Parley, never in a client application.
type Admin struct {
	BaseURL    string       // e.g. "http://127.0.0.1:8080"
	Key        string       // the server's admin key
	HTTPClient *http.Client // nil: http.DefaultClient
}

// do performs a JSON request of the admin API, as API.do does.
func (a *Admin) do(ctx context.Context, method, path string, in, out any) error {
	api := API{BaseURL: a.BaseURL, Token: a.Key, HTTPClient: a.HTTPClient}
	return api.do(ctx, method, path, in, out)
}
