package httpapi

// Aliases of the unexported types that decode request bodies and encode the
// error envelope, so that openapi_test.go can compare them, by reflection,
// with the schemas of docs/openapi.yaml. Test-only: nothing is exported from
// the package itself.
type (
	Credentials   = credentials
	SendBody      = sendBody
	SeqBody       = seqBody
	RetentionBody = retentionBody
	ErrorEnvelope = errorBody
)
