// Package seal provides every cryptographic operation of querygate: master
// keys and key rings, envelope encryption of stored secrets, random device
// keys, and the codec for encrypted, authenticated cookies.
//
// Callers choose neither algorithms nor nonces: they name a place (the
// associated data) and get an opaque blob back. The package never logs, and
// its errors never contain key material or plaintext. Only the standard
// library's crypto is used (AES-256-GCM, HKDF-SHA256, crypto/rand).
package seal
