package httpapi_test

// The HTTP contract: docs/openapi.yaml against the server.
//
//   - TestOpenAPIDocument: the documented (METHOD, path) pairs are exactly
//     Server.Routes(); every operation has a summary, explicit security,
//     its path parameters, and error responses that reference the one shared
//     Error response (at least one 4xx each); body-reading operations
//     document 413 and 415; every $ref resolves.
//   - TestOpenAPISchemasMirrorWireTypes: the schemas that mirror a Go type
//     (package protocol, the request bodies, the error envelope) have its
//     json names and types both ways, and the encoded ones its required
//     (non-omitempty) fields.
//   - TestOpenAPIQueryParameters: each route's documented query parameters
//     are exactly the whitelist the server enforces.
//   - TestOpenAPIErrorShapeEveryRoute: one failing request per route answers
//     in the one error shape, with a status the document lists.
//   - TestOpenAPIRequestBodies: an operation documents a request body
//     exactly when the server reads one (probed by 415 and 413).
//   - TestOpenAPISuccessResponses: one successful request per route answers
//     with a documented status and a body valid against its schema.
//   - TestOpenAPIExamples: every example of a JSON request or response body
//     is JSON and valid against its schema, as a real body must be.
//
// All but the schema check work from Server.Routes(), so a route added to
// routes.go without documentation fails them; a schema added to the document
// must be either compared with a Go type or listed as unmirrored.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	httpapi "github.com/parley-im/parley/internal/gateway/http"
	"github.com/parley-im/parley/protocol"
)

const (
	specPath = "../../../docs/openapi.yaml"
	// errorRef is the one shared error response.
	errorRef     = "#/components/responses/Error"
	schemaPrefix = "#/components/schemas/"
)

// --- The subset of OpenAPI 3.1 the checks read --------------------------------

type oaDoc struct {
	OpenAPI    string                 `yaml:"openapi"`
	Paths      map[string]*oaPathItem `yaml:"paths"`
	Components struct {
		Schemas         map[string]*oaSchema   `yaml:"schemas"`
		Responses       map[string]*oaResponse `yaml:"responses"`
		Parameters      map[string]*oaParam    `yaml:"parameters"`
		SecuritySchemes map[string]oaSecScheme `yaml:"securitySchemes"`
	} `yaml:"components"`
}

type oaSecScheme struct {
	Type   string `yaml:"type"`
	Scheme string `yaml:"scheme"`
}

type oaPathItem struct {
	Parameters []*oaParam   `yaml:"parameters"`
	Get        *oaOperation `yaml:"get"`
	Put        *oaOperation `yaml:"put"`
	Post       *oaOperation `yaml:"post"`
	Patch      *oaOperation `yaml:"patch"`
	Delete     *oaOperation `yaml:"delete"`
	Head       *oaOperation `yaml:"head"`
	Options    *oaOperation `yaml:"options"`
	Trace      *oaOperation `yaml:"trace"`
}

type oaOperation struct {
	OperationID string                 `yaml:"operationId"`
	Summary     string                 `yaml:"summary"`
	Security    *[]map[string][]string `yaml:"security"`
	Parameters  []*oaParam             `yaml:"parameters"`
	RequestBody *oaRequestBod          `yaml:"requestBody"`
	Responses   map[string]*oaResponse `yaml:"responses"`
}

type oaParam struct {
	Ref      string    `yaml:"$ref"`
	Name     string    `yaml:"name"`
	In       string    `yaml:"in"`
	Required bool      `yaml:"required"`
	Schema   *oaSchema `yaml:"schema"`
}

type oaRequestBod struct {
	Required bool               `yaml:"required"`
	Content  map[string]oaMedia `yaml:"content"`
}

type oaResponse struct {
	Ref         string             `yaml:"$ref"`
	Description string             `yaml:"description"`
	Headers     map[string]any     `yaml:"headers"`
	Content     map[string]oaMedia `yaml:"content"`
}

type oaMedia struct {
	Schema  *oaSchema `yaml:"schema"`
	Example any       `yaml:"example"`
}

type oaSchema struct {
	Ref                  string               `yaml:"$ref"`
	Type                 string               `yaml:"type"`
	Properties           map[string]*oaSchema `yaml:"properties"`
	Required             []string             `yaml:"required"`
	Items                *oaSchema            `yaml:"items"`
	OneOf                []*oaSchema          `yaml:"oneOf"`
	Enum                 []any                `yaml:"enum"`
	Const                any                  `yaml:"const"`
	Minimum              *float64             `yaml:"minimum"`
	Maximum              *float64             `yaml:"maximum"`
	AdditionalProperties *oaAdditional        `yaml:"additionalProperties"`
}

// oaAdditional is additionalProperties: a boolean, or the schema of every
// value of an object used as a map (Allowed, with Schema).
type oaAdditional struct {
	Allowed bool
	Schema  *oaSchema
}

func (a *oaAdditional) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&a.Allowed)
	}
	a.Allowed, a.Schema = true, new(oaSchema)
	return n.Decode(a.Schema)
}

// oaOp is one operation with where it was found.
type oaOp struct {
	route        string // "METHOD /path", as Server.Routes() spells it
	method, path string
	item         *oaPathItem
	*oaOperation
}

func loadSpec(t *testing.T) *oaDoc {
	t.Helper()
	raw, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatalf("read the OpenAPI document: %v", err)
	}
	var d oaDoc
	if err := yaml.Unmarshal(raw, &d); err != nil {
		t.Fatalf("parse %s: %v", specPath, err)
	}
	return &d
}

func (p *oaPathItem) operations() map[string]*oaOperation {
	ops := map[string]*oaOperation{}
	for m, op := range map[string]*oaOperation{"GET": p.Get, "PUT": p.Put, "POST": p.Post, "PATCH": p.Patch,
		"DELETE": p.Delete, "HEAD": p.Head, "OPTIONS": p.Options, "TRACE": p.Trace} {
		if op != nil {
			ops[m] = op
		}
	}
	return ops
}

// operations lists the document's operations by "METHOD /path".
func (d *oaDoc) operations() map[string]oaOp {
	ops := map[string]oaOp{}
	for path, item := range d.Paths {
		for method, op := range item.operations() {
			route := method + " " + path
			ops[route] = oaOp{route: route, method: method, path: path, item: item, oaOperation: op}
		}
	}
	return ops
}

func (d *oaDoc) param(p *oaParam) *oaParam {
	if p.Ref == "" {
		return p
	}
	if q := d.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]; q != nil {
		return q
	}
	return &oaParam{Name: "<unresolved " + p.Ref + ">"}
}

// params returns op's parameters in location in (path-item ones included).
func (d *oaDoc) params(op oaOp, in string) []*oaParam {
	byName := map[string]*oaParam{}
	for _, p := range append(slices.Clone(op.item.Parameters), op.Parameters...) {
		if p = d.param(p); p.In == in {
			byName[p.Name] = p
		}
	}
	var out []*oaParam
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func paramNames(ps []*oaParam) []string {
	names := []string{}
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return names
}

func (d *oaDoc) response(r *oaResponse) *oaResponse {
	if r == nil || r.Ref == "" {
		return r
	}
	return d.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
}

func (d *oaDoc) schema(s *oaSchema) *oaSchema {
	for s != nil && s.Ref != "" {
		s = d.Components.Schemas[strings.TrimPrefix(s.Ref, schemaPrefix)]
	}
	return s
}

// documents reports whether op lists status among its responses.
func (op oaOp) documents(status int) bool { return op.Responses[strconv.Itoa(status)] != nil }

func (op oaOp) statuses() []string {
	var s []string
	for code := range op.Responses {
		s = append(s, code)
	}
	sort.Strings(s)
	return s
}

// public reports whether op needs no credentials (security: []).
func (op oaOp) public() bool { return op.Security != nil && len(*op.Security) == 0 }

func (op oaOp) admin() bool {
	return op.Security != nil && len(*op.Security) == 1 && (*op.Security)[0]["adminKey"] != nil
}

// --- Routes -------------------------------------------------------------------

var goWildcard = regexp.MustCompile(`\{([^{}]*)\}`)

// openAPIRoute converts a Go 1.22 mux pattern ("GET /v1/conversations/{conv}")
// to the document's spelling: the same but for {name...} (→ {name}) and {$}.
func openAPIRoute(pattern string) (string, error) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("pattern %q is not \"METHOD /path\" (a route without a method cannot be documented per operation)", pattern)
	}
	path = goWildcard.ReplaceAllStringFunc(path, func(w string) string {
		name := strings.TrimSuffix(w[1:len(w)-1], "...")
		if name == "$" {
			return ""
		}
		return "{" + name + "}"
	})
	return method + " " + path, nil
}

// pathValues fill path wildcards in requests that should reach a handler
// but find nothing: a well-formed conversation that does not exist, a user
// and a device that do not exist, seq 1.
var pathValues = map[string]string{"conv": "g_zz", "user": "nobody", "device": "nodev", "seq": "1"}

func fillPath(path string) string {
	return goWildcard.ReplaceAllStringFunc(path, func(w string) string {
		if v, ok := pathValues[strings.TrimSuffix(w[1:len(w)-1], "...")]; ok {
			return v
		}
		return "x"
	})
}

// routes returns the server's routes in the document's spelling.
func routes(t *testing.T, srv *httpapi.Server) []string {
	t.Helper()
	var out []string
	for _, p := range srv.Routes() {
		r, err := openAPIRoute(p)
		if err != nil {
			t.Error(err)
			continue
		}
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// --- The document -------------------------------------------------------------

// plainTextErrors lists the operations whose refusals are allowed to be
// something other than the shared Error response, and why.
var plainTextErrors = map[string]string{
	"GET /v1/ws":   "handshake refusals come from internal/gateway/ws and github.com/coder/websocket (http.Error, text/plain)",
	"GET /mqtt":    "handshake refusals come from internal/gateway/mqtt and github.com/coder/websocket (http.Error, text/plain)",
	"GET /metrics": "a failure to gather metrics is answered by promhttp (http.Error, text/plain)",
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // with /metrics, /v1/ws and /mqtt, so that every route is served
	d := loadSpec(t)
	ops := d.operations()

	t.Run("version", func(t *testing.T) {
		if !strings.HasPrefix(d.OpenAPI, "3.1.") {
			t.Errorf("openapi: %q, want 3.1.x", d.OpenAPI)
		}
	})

	t.Run("routes", func(t *testing.T) {
		served := map[string]bool{}
		for _, r := range routes(t, e.srv) {
			served[r] = true
			if _, ok := ops[r]; !ok {
				t.Errorf("route %q is served but not documented in docs/openapi.yaml", r)
			}
		}
		for r := range ops {
			if !served[r] {
				t.Errorf("docs/openapi.yaml documents %q, which the server does not serve", r)
			}
		}
	})

	t.Run("security schemes", func(t *testing.T) {
		for _, name := range []string{"bearerAuth", "adminKey"} {
			if s := d.Components.SecuritySchemes[name]; s.Type != "http" || s.Scheme != "bearer" {
				t.Errorf("securitySchemes.%s = %+v, want an http bearer scheme", name, s)
			}
		}
	})

	t.Run("shared error response", func(t *testing.T) {
		r := d.Components.Responses["Error"]
		if r == nil {
			t.Fatal("components.responses has no Error")
		}
		if len(r.Content) != 1 || r.Content["application/json"].Schema == nil ||
			r.Content["application/json"].Schema.Ref != schemaPrefix+"ErrorResponse" {
			t.Errorf("Error response content %+v, want only application/json with $ref ErrorResponse", r.Content)
		}
		for _, h := range []string{"WWW-Authenticate", "Retry-After"} {
			if r.Headers[h] == nil {
				t.Errorf("Error response does not document the %s header", h)
			}
		}
		env := d.Components.Schemas["ErrorResponse"]
		if env == nil || env.Type != "object" || !slices.Equal(env.Required, []string{"error"}) || len(env.Properties) != 1 ||
			env.Properties["error"] == nil || env.Properties["error"].Ref != schemaPrefix+"ErrorBody" ||
			env.AdditionalProperties == nil || env.AdditionalProperties.Allowed {
			t.Errorf(`ErrorResponse must be {"error": ErrorBody}, required, with no other property`)
		}
	})

	for _, route := range mapKeys(ops) {
		op := ops[route]
		t.Run(route, func(t *testing.T) {
			if op.Summary == "" {
				t.Error("no summary")
			}
			if op.OperationID == "" {
				t.Error("no operationId")
			}

			// Security is explicit on each operation: [] (none), bearerAuth
			// (a user's token) or, under /v1/admin/, adminKey. Which
			// operations really are public is checked against the server by
			// TestOpenAPIErrorShapeEveryRoute.
			switch {
			case op.Security == nil:
				t.Error("no security (write security: [] for an operation without credentials)")
			case strings.HasPrefix(op.path, "/v1/admin/"):
				if !op.admin() {
					t.Errorf("security %v, want [{adminKey: []}]", *op.Security)
				}
			case !op.public() && !(len(*op.Security) == 1 && (*op.Security)[0]["bearerAuth"] != nil):
				t.Errorf("security %v, want [] or [{bearerAuth: []}]", *op.Security)
			}

			// Path parameters: exactly the wildcards, required.
			var wild []string
			for _, m := range goWildcard.FindAllStringSubmatch(op.path, -1) {
				wild = append(wild, m[1])
			}
			sort.Strings(wild)
			pp := d.params(op, "path")
			if got := paramNames(pp); !slices.Equal(got, wild) {
				t.Errorf("path parameters %v, want %v", got, wild)
			}
			for _, p := range pp {
				if !p.Required || p.Schema == nil {
					t.Errorf("path parameter %q: must be required and have a schema", p.Name)
				}
			}
			for _, p := range d.params(op, "query") {
				if p.Schema == nil {
					t.Errorf("query parameter %q has no schema", p.Name)
				}
			}

			// Responses.
			success, shared4xx := false, false
			for _, code := range op.statuses() {
				n, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("response %q: use explicit status codes", code)
					continue
				}
				r := op.Responses[code]
				switch {
				case n < 400:
					success = success || n < 300
					if r.Ref != "" || r.Description == "" {
						t.Errorf("response %d: a success response is described in place", n)
					}
				case r.Ref == errorRef:
					shared4xx = shared4xx || n < 500
				case plainTextErrors[route] != "":
					if _, ok := r.Content["text/plain"]; !ok || len(r.Content) != 1 {
						t.Errorf("response %d is neither the shared Error response nor documented plain text", n)
					}
				default:
					t.Errorf("error response %d does not reference %s", n, errorRef)
				}
				if d.response(r) == nil {
					t.Errorf("response %s: $ref %q does not resolve", code, r.Ref)
				}
			}
			if !success {
				t.Error("no success response")
			}
			if !shared4xx {
				t.Errorf("no 4xx response that references %s", errorRef)
			}

			// Request bodies: JSON only, and they can be too large or
			// of the wrong media type.
			if rb := op.RequestBody; rb != nil {
				if !rb.Required {
					t.Error("requestBody: required must be true (an empty body is a 400)")
				}
				if m, ok := rb.Content["application/json"]; !ok || len(rb.Content) != 1 || m.Schema == nil {
					t.Errorf("requestBody: want only application/json with a schema, got %v", mapKeys(rb.Content))
				} else if d.schema(m.Schema) == nil {
					t.Errorf("requestBody schema %q does not resolve", m.Schema.Ref)
				}
				for _, s := range []int{413, 415} {
					if !op.documents(s) {
						t.Errorf("reads a body but does not document %d", s)
					}
				}
			} else if op.documents(415) {
				t.Error("documents 415 but no request body")
			}
		})
	}

	t.Run("login is rate limited", func(t *testing.T) {
		if op, ok := ops["POST /v1/login"]; !ok || op.Responses["429"] == nil || op.Responses["429"].Ref != errorRef {
			t.Error("POST /v1/login does not document 429 with the shared Error response (its Retry-After header)")
		}
	})

	t.Run("references resolve", func(t *testing.T) {
		raw, err := os.ReadFile(specPath)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		walkRefs(doc, func(ref string) {
			parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
			if !strings.HasPrefix(ref, "#/") {
				t.Errorf("$ref %q is not local", ref)
				return
			}
			var cur any = doc
			for _, p := range parts {
				m, ok := cur.(map[string]any)
				if !ok || m[p] == nil {
					t.Errorf("$ref %q does not resolve", ref)
					return
				}
				cur = m[p]
			}
		})
	})
}

func walkRefs(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				f(s)
				continue
			}
			walkRefs(x, f)
		}
	case []any:
		for _, x := range v {
			walkRefs(x, f)
		}
	}
}

func mapKeys[M ~map[string]V, V any](m M) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// --- Schemas against the Go types ----------------------------------------------

// mirror says which Go type a schema mirrors, and how closely.
type mirror struct {
	typ reflect.Type
	how mirrorKind
}

type mirrorKind int

const (
	// encoded: a type the server writes. The schema's properties are its
	// json names and its required properties exactly those without
	// omitempty (the ones always present).
	encoded mirrorKind = iota
	// decoded: a request body the server reads into the type. The
	// properties are its json names; which are required is the handler's
	// business (a missing field decodes as zero), not the type's.
	decoded
	// decodedSubset: a request schema that documents some of the fields of
	// a struct shared by several endpoints (credentials serves register,
	// login and admin create; sendBody also serves edit). Each documented
	// property must be one the server decodes.
	decodedSubset
)

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var mirrors = map[string]mirror{
	// tags and system notices
	"UserTags":          {typeOf[protocol.UserTags](), encoded},
	"TagsUpdate":        {typeOf[protocol.TagsUpdate](), decoded},
	"TagsImport":        {typeOf[protocol.TagsImport](), decoded},
	"TagsImportResult":  {typeOf[protocol.TagsImportResult](), encoded},
	"TagsImportFailure": {typeOf[protocol.TagsImportFailure](), encoded},
	"Audience":          {typeOf[protocol.Audience](), encoded},
	"NoticeRequest":     {typeOf[protocol.NoticeRequest](), decoded},
	"Notice":            {typeOf[protocol.Notice](), encoded},
	"NoticeList":        {typeOf[protocol.NoticeList](), encoded},
	// package protocol
	"Message":          {typeOf[protocol.Message](), encoded},
	"MemberChange":     {typeOf[protocol.MemberChange](), encoded},
	"SocialEvent":      {typeOf[protocol.SocialEvent](), encoded},
	"Conversation":     {typeOf[protocol.Conversation](), encoded},
	"ConversationList": {typeOf[protocol.ConversationList](), encoded},
	"Page":             {typeOf[protocol.Page](), encoded},
	"Ack":              {typeOf[protocol.Ack](), encoded},
	"Member":           {typeOf[protocol.Member](), encoded},
	"ReadState":        {typeOf[protocol.ReadState](), encoded},
	"Presence":         {typeOf[protocol.Presence](), encoded},
	"Block":            {typeOf[protocol.Block](), encoded},
	"BlockList":        {typeOf[protocol.BlockList](), encoded},
	"Device":           {typeOf[protocol.Device](), encoded},
	"User":             {typeOf[protocol.User](), encoded},
	"Tokens":           {typeOf[protocol.Tokens](), encoded},
	"ErrorBody":        {typeOf[protocol.Error](), encoded},
	// friends.go
	"FriendStatus":      {typeOf[protocol.FriendStatus](), encoded},
	"Friend":            {typeOf[protocol.Friend](), encoded},
	"FriendList":        {typeOf[protocol.FriendList](), encoded},
	"PendingFriend":     {typeOf[protocol.PendingFriend](), encoded},
	"PendingFriendList": {typeOf[protocol.PendingFriendList](), encoded},
	"Settings":          {typeOf[protocol.Settings](), encoded},
	// moments.go
	"Follow":            {typeOf[protocol.Follow](), encoded},
	"FollowList":        {typeOf[protocol.FollowList](), encoded},
	"MomentPost":        {typeOf[protocol.MomentPost](), decoded},
	"Moment":            {typeOf[protocol.Moment](), encoded},
	"MomentPage":        {typeOf[protocol.MomentPage](), encoded},
	"MomentComment":     {typeOf[protocol.MomentComment](), encoded},
	"MomentCommentPage": {typeOf[protocol.MomentCommentPage](), encoded},
	"MomentLike":        {typeOf[protocol.MomentLike](), encoded},
	"MomentLikeList":    {typeOf[protocol.MomentLikeList](), encoded},
	// invites.go
	"InviteResult":    {typeOf[protocol.InviteResult](), encoded},
	"Invitation":      {typeOf[protocol.Invitation](), encoded},
	"InvitationList":  {typeOf[protocol.InvitationList](), encoded},
	"InviteLink":      {typeOf[protocol.InviteLink](), encoded},
	"InviteLinkList":  {typeOf[protocol.InviteLinkList](), encoded},
	"JoinResult":      {typeOf[protocol.JoinResult](), encoded},
	"JoinRequest":     {typeOf[protocol.JoinRequest](), encoded},
	"JoinRequestList": {typeOf[protocol.JoinRequestList](), encoded},
	"GroupSettings":   {typeOf[protocol.GroupSettings](), encoded},
	// broadcast.go
	"BroadcastRequest":    {typeOf[protocol.BroadcastRequest](), decoded},
	"BroadcastResult":     {typeOf[protocol.BroadcastResult](), encoded},
	"BroadcastCopy":       {typeOf[protocol.BroadcastCopy](), encoded},
	"BroadcastList":       {typeOf[protocol.BroadcastList](), encoded},
	"BroadcastListPage":   {typeOf[protocol.BroadcastListPage](), encoded},
	"BroadcastMemberPage": {typeOf[protocol.BroadcastMemberPage](), encoded},
	"BroadcastListCreate": {typeOf[protocol.BroadcastListCreate](), decoded},
	"BroadcastListChange": {typeOf[protocol.BroadcastListChange](), decoded},
	// the error envelope writeError encodes
	"ErrorResponse": {typeOf[httpapi.ErrorEnvelope](), encoded},
	// request bodies decoded into named types
	"SendRequest":       {typeOf[httpapi.SendBody](), decoded},
	"SeqRequest":        {typeOf[httpapi.SeqBody](), decoded},
	"RetentionRequest":  {typeOf[httpapi.RetentionBody](), decoded},
	"EditRequest":       {typeOf[httpapi.SendBody](), decodedSubset},
	"RegisterRequest":   {typeOf[httpapi.Credentials](), decodedSubset},
	"LoginRequest":      {typeOf[httpapi.Credentials](), decodedSubset},
	"CreateUserRequest": {typeOf[httpapi.Credentials](), decodedSubset},
}

// unmirrored lists the schemas without a Go type to compare with: the
// handlers build them from maps or decode them into anonymous structs.
// TestOpenAPISuccessResponses checks the response ones against real
// answers; a new schema must be added to mirrors or here.
var unmirrored = []string{
	"Status", "Me", "DeviceList", "PresenceList", "MemberList", "UserList", "KickResult", "UserExport",
	"RefreshRequest", "UserRequest", "CreateGroupRequest", "RenameRequest", "RoleRequest",
	"FriendRequestRequest", "SettingsRequest",
	"TagsRequest",
	"CommentRequest",
	"InviteRequest", "LinkRequest", "GroupSettingsRequest",
	"BroadcastListRename",
}

var rawMessage = reflect.TypeFor[json.RawMessage]()

func TestOpenAPISchemasMirrorWireTypes(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	// The schema that mirrors each exactly-mirrored type, for $refs.
	schemaOf := map[reflect.Type]string{}
	for name, m := range mirrors {
		if m.how == encoded {
			schemaOf[m.typ] = name
		}
	}
	for _, name := range mapKeys(d.Components.Schemas) {
		if _, ok := mirrors[name]; !ok && !slices.Contains(unmirrored, name) {
			t.Errorf("schema %s is neither compared with a Go type (mirrors) nor listed as unmirrored", name)
		}
	}
	for _, name := range mapKeys(mirrors) {
		m := mirrors[name]
		t.Run(name, func(t *testing.T) {
			s := d.Components.Schemas[name]
			if s == nil {
				t.Fatalf("components.schemas has no %s (mirror of %v)", name, m.typ)
			}
			if s.Type != "object" {
				t.Errorf("type %q, want object", s.Type)
			}
			fields := jsonFields(t, m.typ)
			for prop, ps := range s.Properties {
				f, ok := fields[prop]
				if !ok {
					t.Errorf("property %q is not a json field of %v", prop, m.typ)
					continue
				}
				if err := checkGoType(d, schemaOf, f.Type, ps); err != nil {
					t.Errorf("property %q (%v): %v", prop, f.Type, err)
				}
			}
			for _, req := range s.Required {
				if s.Properties[req] == nil {
					t.Errorf("required %q is not a property", req)
				}
			}
			if m.how == decodedSubset {
				return
			}
			var want []string
			for name, f := range fields {
				if s.Properties[name] == nil {
					t.Errorf("json field %q of %v is not a property", name, m.typ)
				}
				if !f.omitempty {
					want = append(want, name)
				}
			}
			if m.how != encoded {
				return
			}
			sort.Strings(want)
			got := slices.Sorted(slices.Values(s.Required))
			if !slices.Equal(got, want) {
				t.Errorf("required %v, want the fields without omitempty %v", got, want)
			}
		})
	}
}

type jsonField struct {
	reflect.Type
	omitempty bool
}

// jsonFields returns the JSON names of t's fields as encoding/json sees them.
func jsonFields(t *testing.T, typ reflect.Type) map[string]jsonField {
	t.Helper()
	out := map[string]jsonField{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous {
			t.Errorf("%v embeds %v: extend jsonFields to follow embedded fields", typ, f.Type)
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{Type: f.Type, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty")}
	}
	return out
}

// checkGoType reports how schema s fails to describe values of Go type typ.
func checkGoType(d *oaDoc, schemaOf map[reflect.Type]string, typ reflect.Type, s *oaSchema) error {
	if typ == rawMessage {
		if s.Type != "" || s.Ref != "" {
			return fmt.Errorf("any JSON value: want a schema without type or $ref, got type %q $ref %q", s.Type, s.Ref)
		}
		return nil
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Struct:
		want := schemaPrefix + schemaOf[typ]
		if schemaOf[typ] == "" || s.Ref != want {
			return fmt.Errorf("want $ref %q (no schema mirrors %v exactly, or another is referenced: %q)", want, typ, s.Ref)
		}
		return nil
	case reflect.Map:
		if typ.Key().Kind() != reflect.String || s.Type != "object" || s.AdditionalProperties == nil || s.AdditionalProperties.Schema == nil {
			return fmt.Errorf("type %q, want object with additionalProperties for a map of strings to %v", s.Type, typ.Elem())
		}
		return checkGoType(d, schemaOf, typ.Elem(), s.AdditionalProperties.Schema)
	case reflect.Slice:
		if s.Type != "array" || s.Items == nil {
			return fmt.Errorf("type %q, want array with items", s.Type)
		}
		return checkGoType(d, schemaOf, typ.Elem(), s.Items)
	case reflect.String:
		return wantType(s, "string")
	case reflect.Bool:
		return wantType(s, "boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return wantType(s, "integer")
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if err := wantType(s, "integer"); err != nil {
			return err
		}
		if s.Minimum == nil || *s.Minimum < 0 {
			return fmt.Errorf("unsigned: want minimum ≥ 0")
		}
		return nil
	}
	return fmt.Errorf("no rule for Go kind %v", typ.Kind())
}

func wantType(s *oaSchema, typ string) error {
	if s.Type != typ || s.Ref != "" {
		return fmt.Errorf("type %q $ref %q, want type %q", s.Type, s.Ref, typ)
	}
	return nil
}

// --- Against a running server --------------------------------------------------

const queryProbe = "zz_openapi_probe"

// whitelist returns the query parameters the server accepts on route, read
// from its refusal of an unknown one (checkQuery lists the accepted names
// in the message), and whether the route checks its query at all.
func whitelist(t *testing.T, e *env, route string) ([]string, bool) {
	t.Helper()
	method, path, _ := strings.Cut(route, " ")
	resp := e.do(t, request{method: method, path: fillPath(path) + "?" + queryProbe + "=1"})
	if resp.StatusCode != http.StatusBadRequest {
		io.Copy(io.Discard, resp.Body)
		return nil, false
	}
	got := checkErrorShape(t, resp)
	if got.Field != queryProbe {
		t.Fatalf("%s with an unknown query parameter: 400 on field %q, want %q", route, got.Field, queryProbe)
	}
	const none, only = "which accepts no query parameters", "which accepts only "
	switch {
	case strings.HasSuffix(got.Message, none):
		return []string{}, true
	case strings.Contains(got.Message, only):
		_, list, _ := strings.Cut(got.Message, only)
		names := strings.Split(list, ", ")
		sort.Strings(names)
		return names, true
	}
	t.Fatalf("%s: cannot read the accepted parameters from %q (did checkQuery's message change?)", route, got.Message)
	return nil, false
}

func TestOpenAPIQueryParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := loadSpec(t)
	ops := d.operations()
	for _, route := range routes(t, e.srv) {
		op, ok := ops[route]
		if !ok {
			continue // reported by TestOpenAPIDocument
		}
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			documented := paramNames(d.params(op, "query"))
			accepted, checked := whitelist(t, e, route)
			if !checked {
				// Served outside handle (GET /metrics, GET /v1/ws, GET /mqtt): no
				// whitelist, so nothing may be documented either.
				if len(documented) > 0 {
					t.Errorf("documents query parameters %v, but the route does not check its query string", documented)
				}
				return
			}
			if !slices.Equal(documented, accepted) {
				t.Errorf("documented query parameters %v, server's whitelist %v", documented, accepted)
			}
			// Each documented name really passes the check (whatever
			// happens next: here, mostly a 401).
			method, path, _ := strings.Cut(route, " ")
			for _, name := range documented {
				resp := e.do(t, request{method: method, path: fillPath(path) + "?" + name + "=1"})
				if resp.StatusCode == http.StatusBadRequest {
					if got := checkErrorShape(t, resp); got.Field == name {
						t.Errorf("documented query parameter %q is refused: %s", name, got.Message)
					}
				}
			}
			if !op.documents(http.StatusBadRequest) {
				t.Error("the server refuses unknown query parameters with 400, which is not documented")
			}
		})
	}
}

// noNaturalFailure lists the routes TestOpenAPIErrorShapeEveryRoute does not
// make fail in their own way, and why. All of them are still covered by its
// "credentials in the URL" case, and all but /metrics, /v1/ws and /mqtt by
// the unknown-query-parameter probe of TestOpenAPIQueryParameters.
var noNaturalFailure = map[string]string{
	"GET /healthz": "always 200 while the process serves",
	"GET /readyz":  "fails only while the server is not ready (503 not_ready, TestReadyz)",
	"GET /metrics": "not part of the JSON API; public and without a body",
	"GET /v1/ws":   "a stub in these tests; the real handshake's refusals are plain text from internal/gateway/ws",
	"GET /mqtt":    "a stub in these tests; the real handshake's refusals are plain text from internal/gateway/mqtt",
}

func TestOpenAPIErrorShapeEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := loadSpec(t)
	ops := d.operations()

	// check checks the one error shape and that the document lists the status.
	check := func(t *testing.T, op oaOp, resp *http.Response, want int) {
		t.Helper()
		if resp.StatusCode != want {
			raw, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, want, raw)
		}
		if got := checkErrorShape(t, resp); got.Reason == "" {
			t.Errorf("empty reason")
		}
		if want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer WWW-Authenticate challenge")
		}
		if !op.documents(want) {
			t.Errorf("answered %d, which %s does not document (documented: %v)", want, op.route, op.statuses())
		}
	}

	for _, route := range routes(t, e.srv) {
		op, ok := ops[route]
		if !ok {
			continue // reported by TestOpenAPIDocument
		}
		method, path, _ := strings.Cut(route, " ")
		target := fillPath(path)
		t.Run(route, func(t *testing.T) {
			t.Parallel()

			t.Run("credentials in the URL", func(t *testing.T) {
				// Refused on every path, before routing.
				check(t, op, e.do(t, request{method: method, path: target + "?access_token=x"}), http.StatusUnauthorized)
			})

			if why := noNaturalFailure[route]; why != "" {
				t.Logf("no route-specific failure: %s", why)
				return
			}
			switch {
			case op.public():
				// No credentials to leave out: a body without its media type.
				if op.RequestBody == nil {
					t.Fatalf("public route without a request body: no unauthenticated failure is known; add one here or to noNaturalFailure")
				}
				t.Run("no content type", func(t *testing.T) {
					check(t, op, e.do(t, request{method: method, path: target, body: `{}`}), http.StatusUnsupportedMediaType)
				})
			default:
				t.Run("no credentials", func(t *testing.T) {
					check(t, op, e.do(t, request{method: method, path: target, body: `{}`,
						header: map[string]string{"Content-Type": "application/json"}}), http.StatusUnauthorized)
				})
				// The other kind of credential: a user's token on the
				// admin API, the admin key on a user endpoint.
				other := "Bearer " + adminKey
				if op.admin() {
					other = "Bearer " + e.token
				}
				t.Run("wrong kind of credential", func(t *testing.T) {
					check(t, op, e.do(t, request{method: method, path: target, body: `{}`,
						header: map[string]string{"Content-Type": "application/json", "Authorization": other}}), http.StatusUnauthorized)
				})
			}
		})
	}

	t.Run("login rate limit", func(t *testing.T) {
		t.Parallel()
		op := ops["POST /v1/login"]
		body := `{"user":"mallory","password":"wrong-password"}`
		jsonCT := map[string]string{"Content-Type": "application/json"}
		var resp *http.Response
		for range 100 { // 10 failures per account and minute by default
			if resp = e.do(t, request{method: "POST", path: "/v1/login", body: body, header: jsonCT}); resp.StatusCode != http.StatusUnauthorized {
				break
			}
		}
		ra := resp.Header.Get("Retry-After")
		check(t, op, resp, http.StatusTooManyRequests)
		if n, err := strconv.Atoi(ra); err != nil || n < 1 {
			t.Errorf("Retry-After %q, want whole seconds ≥ 1", ra)
		}
	})
}

func TestOpenAPIRequestBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := loadSpec(t)
	ops := d.operations()
	var n int
	for _, route := range routes(t, e.srv) {
		op, ok := ops[route]
		if !ok {
			continue // reported by TestOpenAPIDocument
		}
		method, path, _ := strings.Cut(route, " ")
		// The credentials the document says the route takes; a fresh
		// session each, since a route may end it (logout).
		auth := map[string]string{}
		switch {
		case op.admin():
			auth["Authorization"] = "Bearer " + adminKey
		case !op.public():
			n++
			// A session each, on fewer devices than limits.devices_per_user.
			tok, err := e.core.OpenSession(context.Background(), "alice", fmt.Sprintf("probe-%d", n%24), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			auth["Authorization"] = "Bearer " + tok.AccessToken
		}
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{"Content-Type": "text/plain"}
			for k, v := range auth {
				h[k] = v
			}
			resp := e.do(t, request{method: method, path: fillPath(path), body: "plain text", header: h})
			reads := resp.StatusCode == http.StatusUnsupportedMediaType
			if reads {
				checkErrorShape(t, resp)
			}
			switch {
			case reads && op.RequestBody == nil:
				t.Errorf("the server reads a JSON body (415 for text/plain), but no requestBody is documented")
			case !reads && op.RequestBody != nil:
				raw, _ := io.ReadAll(resp.Body)
				t.Errorf("a requestBody is documented, but text/plain was answered %d, not 415 (%s)", resp.StatusCode, raw)
			}
			if !reads {
				return
			}
			h["Content-Type"] = "application/json"
			big := `{"padding":"` + strings.Repeat("x", maxBodyBytes) + `"}`
			resp = e.do(t, request{method: method, path: fillPath(path), body: big, header: h})
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("a body over the limit: status %d, want 413", resp.StatusCode)
			} else {
				checkErrorShape(t, resp)
			}
		})
	}
}

// --- Success responses against their schemas ----------------------------------

// validate reports how v (decoded with UseNumber) fails schema s. Objects
// are closed: a property the schema does not list is reported, so that
// the server cannot send undocumented fields.
func (d *oaDoc) validate(v any, s *oaSchema, at string) []string {
	if s = d.schema(s); s == nil {
		return []string{at + ": unresolved schema"}
	}
	if len(s.OneOf) > 0 {
		ok := 0
		for _, alt := range s.OneOf {
			if len(d.validate(v, alt, at)) == 0 {
				ok++
			}
		}
		if ok != 1 {
			return []string{fmt.Sprintf("%s: %v matches %d of the oneOf alternatives, want 1", at, v, ok)}
		}
		return nil
	}
	var errs []string
	bad := func(format string, args ...any) []string {
		return append(errs, at+": "+fmt.Sprintf(format, args...))
	}
	switch s.Type {
	case "":
		return nil // any JSON value
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return bad("%T, want an object", v)
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				errs = bad("required property %q missing", r)
			}
		}
		for k, x := range m {
			ps := s.Properties[k]
			if ap := s.AdditionalProperties; ps == nil && ap != nil && ap.Schema != nil {
				ps = ap.Schema // a map's value
			}
			if ps == nil {
				errs = bad("property %q is not documented", k)
				continue
			}
			errs = append(errs, d.validate(x, ps, at+"."+k)...)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return bad("%T, want an array", v)
		}
		for i, x := range a {
			errs = append(errs, d.validate(x, s.Items, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return bad("%T, want a string", v)
		}
		if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(x any) bool { return x == str }) {
			errs = bad("%q is not one of %v", str, s.Enum)
		}
		if s.Const != nil && s.Const != str {
			errs = bad("%q, want %v", str, s.Const)
		}
	case "integer":
		num, ok := v.(json.Number)
		if !ok || strings.ContainsAny(num.String(), ".eE") {
			return bad("%v, want an integer", v)
		}
		f, _ := num.Float64()
		if s.Minimum != nil && f < *s.Minimum {
			errs = bad("%v below the minimum %v", num, *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			errs = bad("%v above the maximum %v", num, *s.Maximum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("%T, want a boolean", v)
		}
	default:
		return bad("no rule for type %q", s.Type)
	}
	return errs
}

// successWalk makes requests and checks each answer against the document.
type successWalk struct {
	t       *testing.T
	e       *env
	d       *oaDoc
	ops     map[string]oaOp
	covered map[string]bool
}

// call sends a request on route (the document's "METHOD /path") to path
// and checks that the status is a documented success and the body valid
// against its schema; it returns the decoded JSON object, if any.
func (w *successWalk) call(route, path, body string, header map[string]string) map[string]any {
	t := w.t
	t.Helper()
	method, _, _ := strings.Cut(route, " ")
	op, ok := w.ops[route]
	if !ok {
		t.Errorf("%s is not documented", route)
		return nil
	}
	w.covered[route] = true
	resp := w.e.do(t, request{method: method, path: path, body: body, header: header})
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := w.d.response(op.Responses[strconv.Itoa(resp.StatusCode)])
	if resp.StatusCode >= 300 || r == nil {
		t.Errorf("%s %s: status %d (%s), want a documented success (documented: %v)", method, path, resp.StatusCode, raw, op.statuses())
		return nil
	}
	if len(r.Content) == 0 {
		if len(raw) != 0 {
			t.Errorf("%s %s: %d with body %q, documented without content", method, path, resp.StatusCode, raw)
		}
		return nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	media, ok := r.Content[mt]
	if !ok {
		t.Errorf("%s %s: Content-Type %q, documented %v", method, path, mt, mapKeys(r.Content))
		return nil
	}
	if mt != "application/json" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Errorf("%s %s: body %q: %v", method, path, raw, err)
		return nil
	}
	for _, msg := range w.d.validate(v, media.Schema, "body") {
		t.Errorf("%s %s (%d): %s\n\tbody %s", method, path, resp.StatusCode, msg, raw)
	}
	m, _ := v.(map[string]any)
	return m
}

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// TestOpenAPISuccessResponses succeeds once on every route (but /v1/ws and
// /mqtt, stubs here) and checks status and body against the document, so that
// the documented success responses, envelopes included, are the real ones.
func TestOpenAPISuccessResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := loadSpec(t)
	w := &successWalk{t: t, e: e, d: d, ops: d.operations(), covered: map[string]bool{}}
	bg := context.Background()
	bearer := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	}
	alice, admin, public := bearer(e.token), bearer(adminKey), map[string]string{"Content-Type": "application/json"}
	bobTok, err := e.core.OpenSession(bg, "bob", "phone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	w.call("GET /healthz", "/healthz", "", nil)
	w.call("GET /readyz", "/readyz", "", nil)
	w.call("GET /metrics", "/metrics", "", nil)

	w.call("POST /v1/register", "/v1/register", `{"user":"carol","password":"carol-password","display_name":"Carol"}`, public)
	tok := w.call("POST /v1/login", "/v1/login", `{"user":"carol","password":"carol-password","device":"laptop"}`, public)
	tok = w.call("POST /v1/refresh", "/v1/refresh", fmt.Sprintf(`{"refresh_token":%q}`, str(tok, "refresh_token")), public)
	w.call("GET /v1/me", "/v1/me", "", alice)
	w.call("GET /v1/devices", "/v1/devices", "", alice)
	w.call("GET /v1/presence", "/v1/presence?users=bob,carol", "", alice)

	w.call("POST /v1/conversations/direct", "/v1/conversations/direct", `{"user":"bob"}`, alice)
	g := str(w.call("POST /v1/groups", "/v1/groups", `{"name":"Hike","members":["bob"]}`, alice), "id")
	if g == "" {
		t.Fatal("no group was created")
	}
	conv := "/v1/conversations/" + g
	w.call("PATCH /v1/conversations/{conv}", conv, `{"name":"Saturday hike"}`, alice)
	send := `{"client_msg_id":"c-1","body":"Meet at 8?"}`
	seq := str(w.call("POST /v1/conversations/{conv}/messages", conv+"/messages", send, alice), "seq")
	w.call("POST /v1/conversations/{conv}/messages", conv+"/messages", send, alice) // 200, duplicate
	w.call("POST /v1/users/{user}/messages", "/v1/users/bob/messages",
		`{"client_msg_id":"c-2","content_type":"application/vnd.example+json","payload":{"lat":52.5},"encrypted":true}`, alice)
	w.call("PATCH /v1/conversations/{conv}/messages/{seq}", conv+"/messages/"+seq, `{"client_msg_id":"c-3","body":"Meet at 9?"}`, alice)
	w.call("GET /v1/conversations/{conv}/messages", conv+"/messages?limit=50", "", alice)
	w.call("DELETE /v1/conversations/{conv}/messages/{seq}", conv+"/messages/"+seq+"?client_msg_id=c-4", "", alice)
	w.call("POST /v1/conversations/{conv}/read", conv+"/read", `{"seq":`+seq+`}`, alice)
	w.call("POST /v1/conversations/{conv}/ack", conv+"/ack", `{"seq":`+seq+`}`, alice)
	w.call("POST /v1/conversations/{conv}/typing", conv+"/typing", "", alice)
	w.call("POST /v1/conversations/{conv}/members", conv+"/members", `{"user":"carol"}`, alice)
	w.call("GET /v1/conversations/{conv}/members", conv+"/members", "", alice)
	w.call("PATCH /v1/conversations/{conv}/members/{user}", conv+"/members/bob", `{"role":"admin"}`, alice)
	w.call("DELETE /v1/conversations/{conv}/members/{user}", conv+"/members/carol", "", alice)
	w.call("PATCH /v1/conversations/{conv}/retention", conv+"/retention", `{"max_age":"720h"}`, alice)
	w.call("GET /v1/conversations/{conv}", conv, "", alice)
	w.call("GET /v1/conversations", "/v1/conversations?limit=10", "", alice)
	w.call("POST /v1/conversations/{conv}/leave", conv+"/leave", "", bearer(bobTok.AccessToken))

	w.call("PUT /v1/blocks/{user}", "/v1/blocks/bob", "", alice)
	w.call("GET /v1/blocks", "/v1/blocks?limit=10", "", alice)
	w.call("DELETE /v1/blocks/{user}", "/v1/blocks/bob", "", alice)

	bob := bearer(bobTok.AccessToken)
	w.call("POST /v1/friends/requests", "/v1/friends/requests", `{"user":"bob","text":"Hi Bob, it's Alice"}`, alice)
	w.call("GET /v1/friends/requests", "/v1/friends/requests?direction=out&limit=10", "", alice)
	w.call("POST /v1/friends/requests/{user}/accept", "/v1/friends/requests/alice/accept", "", bob)
	w.call("GET /v1/friends", "/v1/friends?limit=10", "", alice)
	w.call("DELETE /v1/friends/{user}", "/v1/friends/bob", "", alice)
	w.call("POST /v1/friends/requests", "/v1/friends/requests", `{"user":"carol"}`, alice)
	w.call("DELETE /v1/friends/requests/{user}", "/v1/friends/requests/carol", "", alice)
	w.call("POST /v1/friends/requests", "/v1/friends/requests", `{"user":"alice"}`, bob)
	w.call("POST /v1/friends/requests/{user}/decline", "/v1/friends/requests/bob/decline", "", alice)
	w.call("POST /v1/broadcast-lists", "/v1/broadcast-lists", `{"list":"family","name":"Family","members":["bob"]}`, alice)
	w.call("GET /v1/broadcast-lists", "/v1/broadcast-lists?limit=10", "", alice)
	w.call("GET /v1/broadcast-lists/{list}", "/v1/broadcast-lists/family", "", alice)
	w.call("PATCH /v1/broadcast-lists/{list}", "/v1/broadcast-lists/family", `{"name":"The family"}`, alice)
	w.call("POST /v1/broadcast-lists/{list}/members", "/v1/broadcast-lists/family/members", `{"add":["carol"],"remove":["nobody"]}`, alice)
	w.call("GET /v1/broadcast-lists/{list}/members", "/v1/broadcast-lists/family/members?limit=1", "", alice)
	broadcast := `{"list":"family","client_msg_id":"b-1","body":"Happy new year!"}`
	w.call("POST /v1/broadcasts", "/v1/broadcasts", broadcast, alice)
	w.call("POST /v1/broadcasts", "/v1/broadcasts", broadcast, alice) // 200, a retry
	w.call("POST /v1/broadcasts", "/v1/broadcasts", `{"to":["bob","nobody"],"client_msg_id":"b-2","payload":{"card":"lantern"}}`, alice)
	w.call("DELETE /v1/broadcast-lists/{list}", "/v1/broadcast-lists/family", "", alice)
	w.call("GET /v1/me/settings", "/v1/me/settings", "", alice)
	w.call("PATCH /v1/me/settings", "/v1/me/settings", `{"inbound":"friends"}`, alice)

	// Follows and moments: bob follows alice, who posts; bob reads,
	// comments and likes; alice cleans up and removes bob with a notice.
	w.call("POST /v1/follows/{user}", "/v1/follows/alice", "", bob)
	w.call("GET /v1/followers", "/v1/followers?limit=10", "", alice)
	w.call("GET /v1/following", "/v1/following?limit=10", "", bob)
	post := `{"client_msg_id":"m-1","text":"A day at the lake","payload":{"images":["https://img.example.com/lake.jpg"]},"visibility":"list","users":["bob"]}`
	moment := "/v1/moments/" + str(w.call("POST /v1/moments", "/v1/moments", post, alice), "id")
	w.call("POST /v1/moments", "/v1/moments", post, alice) // 200, duplicate
	w.call("GET /v1/moments/feed", "/v1/moments/feed?limit=10", "", bob)
	w.call("GET /v1/users/{user}/moments", "/v1/users/alice/moments?limit=10", "", bob)
	w.call("GET /v1/moments/{moment}", moment, "", alice)
	comment := str(w.call("POST /v1/moments/{moment}/comments", moment+"/comments", `{"text":"Looks cold!"}`, bob), "id")
	w.call("GET /v1/moments/{moment}/comments", moment+"/comments?limit=10", "", bob)
	w.call("PUT /v1/moments/{moment}/like", moment+"/like", "", bob)
	w.call("GET /v1/moments/{moment}", moment, "", bob)
	w.call("GET /v1/moments/{moment}/likes", moment+"/likes?limit=10", "", alice)
	w.call("DELETE /v1/moments/{moment}/like", moment+"/like", "", bob)
	w.call("DELETE /v1/moments/{moment}/comments/{comment}", moment+"/comments/"+comment, "", alice)
	w.call("DELETE /v1/moments/{moment}", moment, "", alice)
	w.call("DELETE /v1/followers/{user}", "/v1/followers/bob?notify=true", "", alice)
	w.call("DELETE /v1/follows/{user}", "/v1/follows/alice", "", bob)
	// Invitations, links and join requests, in the group bob left.
	carol := bearer(str(tok, "access_token"))
	w.call("POST /v1/conversations/{conv}/invites", conv+"/invites", `{"users":["carol","bob"]}`, alice)
	w.call("GET /v1/conversations/{conv}/invites", conv+"/invites?limit=10", "", alice)
	w.call("GET /v1/invites", "/v1/invites?limit=10", "", carol)
	w.call("POST /v1/invites/{conv}/accept", "/v1/invites/"+g+"/accept", "", carol)
	w.call("POST /v1/invites/{conv}/decline", "/v1/invites/"+g+"/decline", "", bob)
	w.call("POST /v1/conversations/{conv}/invites", conv+"/invites", `{"users":["bob"]}`, alice)
	w.call("DELETE /v1/conversations/{conv}/invites/{user}", conv+"/invites/bob", "", alice)
	w.call("PATCH /v1/conversations/{conv}/settings", conv+"/settings", `{"join_approval":true}`, alice)
	w.call("GET /v1/conversations/{conv}/settings", conv+"/settings", "", carol)
	link := str(w.call("POST /v1/conversations/{conv}/links", conv+"/links", `{"expires_in":3600,"max_uses":10}`, alice), "token")
	w.call("GET /v1/conversations/{conv}/links", conv+"/links", "", alice)
	w.call("POST /v1/join/{token}", "/v1/join/"+link, "", bob)
	w.call("GET /v1/conversations/{conv}/join-requests", conv+"/join-requests?limit=10", "", alice)
	w.call("POST /v1/conversations/{conv}/join-requests/{user}/approve", conv+"/join-requests/bob/approve", "", alice)
	if _, err := e.core.CreateUser(bg, "erin", "", ""); err != nil {
		t.Fatal(err)
	}
	erinTok, err := e.core.OpenSession(bg, "erin", "phone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w.call("POST /v1/join/{token}", "/v1/join/"+link, "", bearer(erinTok.AccessToken))
	w.call("POST /v1/conversations/{conv}/join-requests/{user}/deny", conv+"/join-requests/erin/deny", "", alice)
	w.call("DELETE /v1/conversations/{conv}/links/{token}", conv+"/links/"+link, "", alice)

	w.call("GET /v1/admin/users", "/v1/admin/users?limit=10", "", admin)
	w.call("POST /v1/admin/users", "/v1/admin/users", `{"user":"dave","password":"dave-password","display_name":"Dave"}`, admin)
	w.call("POST /v1/admin/users/{user}/disable", "/v1/admin/users/dave/disable", "", admin)
	w.call("POST /v1/admin/users/{user}/enable", "/v1/admin/users/dave/enable", "", admin)
	w.call("POST /v1/admin/users/{user}/revoke", "/v1/admin/users/dave/revoke", "", admin)
	w.call("POST /v1/admin/users/{user}/kick", "/v1/admin/users/dave/kick", "", admin)
	w.call("GET /v1/admin/users/{user}/export", "/v1/admin/users/alice/export", "", admin)
	w.call("DELETE /v1/admin/users/{user}", "/v1/admin/users/dave", "", admin)

	w.call("PUT /v1/admin/users/{user}/tags", "/v1/admin/users/bob/tags", `{"tags":{"region":"beijing","plan":"pro"}}`, admin)
	w.call("PATCH /v1/admin/users/{user}/tags", "/v1/admin/users/bob/tags", `{"set":{"region":"hangzhou"},"delete":["plan"]}`, admin)
	w.call("DELETE /v1/admin/users/{user}/tags/{key}", "/v1/admin/users/bob/tags/region", "", admin)
	w.call("GET /v1/admin/users/{user}/tags", "/v1/admin/users/bob/tags", "", admin)
	w.call("POST /v1/admin/tags", "/v1/admin/tags",
		`{"users":[{"user":"alice","tags":{"region":"beijing"}},{"user":"nobody","tags":{"region":"beijing"}}]}`, admin)
	w.call("GET /v1/admin/tags/audience", "/v1/admin/tags/audience?to=region%3Dbeijing", "", admin)
	notice := str(w.call("POST /v1/admin/notices", "/v1/admin/notices", `{"to":"region=beijing","body":"Happy new year","payload":{"img":"x.png"}}`, admin), "id")
	w.call("GET /v1/admin/notices/{notice}", "/v1/admin/notices/"+notice, "", admin)
	w.call("GET /v1/admin/notices", "/v1/admin/notices?limit=10", "", admin)
	w.call("POST /v1/admin/notices/{notice}/cancel", "/v1/admin/notices/"+notice+"/cancel", "", admin)

	if _, err := e.core.OpenSession(bg, "alice", "tablet", time.Hour); err != nil {
		t.Fatal(err)
	}
	w.call("DELETE /v1/devices/{device}", "/v1/devices/tablet", "", alice)
	w.call("POST /v1/logout", "/v1/logout", "", bearer(str(tok, "access_token")))

	for _, r := range routes(t, e.srv) {
		if !w.covered[r] && r != "GET /v1/ws" && r != "GET /mqtt" {
			t.Errorf("route %q has no successful request in TestOpenAPISuccessResponses: add one, so that its documented success response is checked", r)
		}
	}
}

// --- Examples -----------------------------------------------------------------

// exampleJSON converts an example as YAML decoded it to what decoding its
// JSON with UseNumber gives, for validate; an error if it is not JSON (a
// map with keys that are not strings, a value JSON has no form for).
func exampleJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// TestOpenAPIExamples checks every example of a JSON request or response
// body, the shared responses' included: it must be JSON and valid against
// the body's schema, with no property the schema does not list, so that an
// example can be copied and sent, or trusted as what the server answers.
func TestOpenAPIExamples(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	examples := 0
	check := func(where string, content map[string]oaMedia) {
		t.Helper()
		media, ok := content["application/json"]
		if !ok || media.Example == nil {
			return
		}
		examples++
		v, err := exampleJSON(media.Example)
		if err != nil {
			t.Errorf("%s: the example is not JSON: %v", where, err)
			return
		}
		for _, msg := range d.validate(v, media.Schema, "example") {
			t.Errorf("%s: %s", where, msg)
		}
	}
	ops := d.operations()
	for _, route := range mapKeys(ops) {
		op := ops[route]
		if rb := op.RequestBody; rb != nil {
			check(route+" request body", rb.Content)
		}
		for _, code := range op.statuses() {
			if r := op.Responses[code]; r != nil && r.Ref == "" {
				check(route+" response "+code, r.Content)
			}
		}
	}
	for _, name := range mapKeys(d.Components.Responses) {
		check("components.responses."+name, d.Components.Responses[name].Content)
	}
	if examples == 0 {
		t.Error("the document has no example: the check read none")
	}
}
