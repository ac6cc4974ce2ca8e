// Package auth hashes passwords (argon2id) and issues and verifies access
// tokens: Parley's own HS256 JWTs, which name a session and a device, and
// JWTs signed by an application's backend (HMAC, RSA, ECDSA keys or a JWKS
// file). Its Verifier bounds how many password hashes run at once and
// remembers successful checks (keyed MACs, never passwords). Everything in
// it is safe for concurrent use.
package auth
