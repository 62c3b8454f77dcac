package secretbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenAndTampering(t *testing.T) {
	b, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	ct := b.Seal(secret, "acme/k")
	if bytes.Contains(ct, secret) {
		t.Fatal("ciphertext holds the plaintext")
	}
	if got, err := b.Open(ct, "acme/k"); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(ct, "other/k"); err == nil {
		t.Error("a secret opened under another creds key")
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 1
		if _, err := b.Open(bad, "acme/k"); err == nil {
			t.Fatalf("a ciphertext altered at byte %d opened", i)
		}
	}
	if bytes.Equal(b.Seal(secret, "acme/k"), ct) {
		t.Error("two seals of one secret are equal: nonce reuse")
	}
	other, _ := Load(t.TempDir())
	if _, err := other.Open(ct, "acme/k"); err == nil {
		t.Error("a secret opened under another master key")
	}
}

func TestLoadCreatesAPrivateKeyFileOnceAndHonoursTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v %v", err, st)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(a.Seal([]byte("x"), "c"), "c"); err != nil {
		t.Error("a reload does not read the same key")
	}
	t.Setenv(EnvMasterKey, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	e, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Open(a.Seal([]byte("x"), "c"), "c"); err == nil {
		t.Error("TARN_MASTER_KEY was ignored")
	}
	t.Setenv(EnvMasterKey, "too-short")
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("a malformed TARN_MASTER_KEY was accepted")
	}
}

// TestDeriveIsStableAndSeparate: servers sharing a master key derive the same key for a
// label; other labels and other master keys give other keys, none of them the master key.
func TestDeriveIsStableAndSeparate(t *testing.T) {
	master := bytes.Repeat([]byte{7}, KeySize)
	a, _ := New(master)
	b, _ := New(bytes.Clone(master))
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	k := a.Derive("object URLs")
	if len(k) != KeySize || !bytes.Equal(k, b.Derive("object URLs")) {
		t.Fatalf("two boxes of one master key derive %x and %x", k, b.Derive("object URLs"))
	}
	for name, o := range map[string][]byte{"another label": a.Derive("other"), "another master key": other.Derive("object URLs"), "the master key": master} {
		if bytes.Equal(k, o) {
			t.Errorf("the derived key equals that of %s", name)
		}
	}
}
