// Package apitoken mints and recognises tarn API tokens: "tarn_" followed by 43 base62
// characters drawn from crypto/rand (256 bits). Only the SHA-256 of a token is ever stored.
package apitoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// Prefix starts every token, so secret scanners and humans recognise one.
const Prefix = "tarn_"

// bodyLen base62 characters hold 256 bits: 62^43 > 2^256.
const bodyLen = 43

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// New returns a fresh token and its SHA-256 hash.
func New() (token string, hash []byte) {
	var b strings.Builder
	b.Grow(len(Prefix) + bodyLen)
	b.WriteString(Prefix)
	buf := make([]byte, 64)
	for b.Len() < len(Prefix)+bodyLen {
		rand.Read(buf) // never fails (crypto/rand panics on an unusable source)
		for _, c := range buf {
			// Rejection sampling keeps the distribution uniform: 248 = 4*62.
			if c < 248 && b.Len() < len(Prefix)+bodyLen {
				b.WriteByte(alphabet[c%62])
			}
		}
	}
	token = b.String()
	return token, Hash(token)
}

// Hash returns the SHA-256 of token.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// WellFormed reports whether s has the shape of a token. It says nothing about validity.
func WellFormed(s string) bool {
	body, ok := strings.CutPrefix(s, Prefix)
	if !ok || len(body) != bodyLen {
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(alphabet, body[i]) < 0 {
			return false
		}
	}
	return true
}

// Matches reports in constant time whether token hashes to hash.
func Matches(token string, hash []byte) bool {
	return subtle.ConstantTimeCompare(Hash(token), hash) == 1
}

// NewID returns a short random public identifier with the given prefix, e.g. "tok_3fK9...".
func NewID(prefix string) string {
	buf := make([]byte, 16)
	rand.Read(buf)
	var b strings.Builder
	b.WriteString(prefix)
	for _, c := range buf {
		b.WriteByte(alphabet[int(c)%62])
	}
	return b.String()
}
