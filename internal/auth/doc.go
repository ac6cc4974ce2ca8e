// Package auth hashes passwords (argon2id) and issues and verifies access
// tokens: Parley's own HS256 JWTs, which name a session and a device, and
// JWTs signed by an application's backend (HMAC, RSA, ECDSA keys or a JWKS
// file). It holds no state besides its keys and is safe for concurrent use.
package auth
