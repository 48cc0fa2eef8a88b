package project

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "identity.key")
	a, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	b, err := LoadOrCreateIdentity(path)
	if err != nil || b.PeerID() != a.PeerID() {
		t.Fatalf("reload: %v %v", b, err)
	}
	if !a.PrivKey().Equals(b.PrivKey()) {
		t.Fatal("keys differ")
	}
	os.WriteFile(path, []byte("junk"), 0o600)
	if _, err := LoadOrCreateIdentity(path); err == nil {
		t.Fatal("junk key loaded")
	}
}
