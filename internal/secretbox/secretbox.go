// Package secretbox encrypts creds-key secrets at rest with AES-256-GCM under the server's
// master key. Each ciphertext is bound to the creds key it belongs to (additional data), so
// a ciphertext copied to another key's row does not decrypt.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a master key in bytes.
const KeySize = 32

// version prefixes every ciphertext so the format can change later.
const version = 1

// EnvMasterKey names the environment variable that may carry the master key (64 hex
// characters or standard base64 of 32 bytes).
const EnvMasterKey = "TARN_MASTER_KEY"

// KeyFile is the name of the master key file in the data dir.
const KeyFile = "master.key"

// Box seals and opens secrets. It is safe for concurrent use.
type Box struct {
	aead   cipher.AEAD
	master []byte // for Derive only; never a key of its own
}

// New returns a Box over a 32-byte master key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key must be %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, master: bytes.Clone(key)}, nil
}

// Derive returns a 32-byte key for purpose label, derived from the master key with HKDF
// (SHA-256): the same on every server that shares the master key, independent of the
// sealing key and of every other label's key.
func (b *Box) Derive(label string) []byte {
	k, err := hkdf.Key(sha256.New, b.master, nil, "tarn secretbox: "+label, KeySize)
	if err != nil {
		panic(err) // only for lengths HKDF cannot give; KeySize is not one
	}
	return k
}

// Load returns the Box of the master key in $TARN_MASTER_KEY, or else in
// <dataDir>/master.key, which it creates (mode 0600) with a random key on first use.
func Load(dataDir string) (*Box, error) {
	if s := strings.TrimSpace(os.Getenv(EnvMasterKey)); s != "" {
		key, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		return New(key)
	}
	path := filepath.Join(dataDir, KeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	key, err := decodeKey(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return New(key)
}

// create writes a random master key to path: to a temporary file first, then linked into
// place, so no reader ever sees a partial key and a concurrent creator's key wins whole.
func create(path string) (*Box, error) {
	key := make([]byte, KeySize)
	rand.Read(key)
	tmp, err := os.CreateTemp(filepath.Dir(path), KeyFile+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write master key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return Load(filepath.Dir(path)) // another server created it first
	} else if err != nil {
		return nil, fmt.Errorf("create master key: %w", err)
	}
	return New(key)
}

func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, errors.New("not a 32-byte key in hex (64 characters) or base64")
}

// Seal encrypts plaintext bound to context (e.g. "org/key").
func (b *Box) Seal(plaintext []byte, context string) []byte {
	n := b.aead.NonceSize()
	out := make([]byte, 1+n, 1+n+len(plaintext)+b.aead.Overhead())
	out[0] = version
	nonce := out[1:]
	rand.Read(nonce)
	return b.aead.Seal(out, nonce, plaintext, []byte(context))
}

// Open decrypts a ciphertext made by Seal with the same context. It fails when the
// ciphertext was altered, sealed under another master key, or bound to another context.
func (b *Box) Open(ciphertext []byte, context string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(ciphertext) < 1+n+b.aead.Overhead() || ciphertext[0] != version {
		return nil, errors.New("secret is not in a known format")
	}
	plain, err := b.aead.Open(nil, ciphertext[1:1+n], ciphertext[1+n:], []byte(context))
	if err != nil {
		return nil, errors.New("secret does not decrypt: wrong master key, or the secret belongs to another creds key")
	}
	return plain, nil
}
