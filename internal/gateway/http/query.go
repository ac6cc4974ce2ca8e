package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/parley-im/parley/internal/core"
)

// credentialParams are query parameter names under which clients (or
// libraries) put credentials. A URL ends up in proxy and server logs,
// browser history and Referer headers, so a request carrying one is refused
// wherever it goes, even when it also has a valid Authorization header.
var credentialParams = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true, "token": true,
	"auth": true, "authorization": true, "bearer": true, "jwt": true,
	"api_key": true, "apikey": true, "admin_key": true, "password": true,
}

// errTokenInURL refuses a request with credentials in its query string.
var errTokenInURL = &core.AuthError{Reason: "credentials are accepted only in the Authorization header, never in the URL"}

// credentialParam returns the first query parameter of r that names a
// credential. It splits the raw query itself, on "&" and ";", so that a
// query the standard parser would reject still cannot smuggle one past.
func credentialParam(r *http.Request) (string, bool) {
	for _, part := range strings.FieldsFunc(r.URL.RawQuery, func(c rune) bool { return c == '&' || c == ';' }) {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if credentialParams[strings.ToLower(strings.TrimSpace(name))] {
			return name, true
		}
	}
	return "", false
}

// maxParamName bounds a parameter name echoed in an error.
const maxParamName = 64

// checkQuery refuses a query string that is malformed, repeats a parameter
// or names one that the endpoint does not accept (allowed, which may be
// empty). Silently ignoring parameters would let a client believe that
// ?sort= or ?order= did something, and a parameter the standard parser
// drops (after a ";") would be a parser differential.
func checkQuery(r *http.Request, allowed []string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return &core.FieldError{Field: "query", Reason: "is malformed: separate parameters with & and %-escape special characters"}
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		field := name
		if len(field) > maxParamName || field == "" {
			field = "query"
		}
		if !slices.Contains(allowed, name) {
			accepts := "accepts no query parameters"
			if len(allowed) > 0 {
				accepts = "accepts only " + strings.Join(allowed, ", ")
			}
			reason := "is not a query parameter of this endpoint, which " + accepts
			if field == "query" {
				reason = fmt.Sprintf("has a parameter this endpoint does not know; it %s", accepts)
			}
			return &core.FieldError{Field: field, Reason: reason}
		}
		if len(q[name]) > 1 {
			return &core.FieldError{Field: field, Reason: "is repeated; give it once"}
		}
	}
	return nil
}
