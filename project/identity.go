package project

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Identity is a device's key: an Ed25519 key pair whose public half is the
// device's libp2p peer ID. The exchange uses the same key for its host, so
// the peer a connection is authenticated to is the author of its records.
type Identity struct {
	priv crypto.PrivKey
	id   peer.ID
}

// NewIdentity makes a fresh identity that is not stored anywhere (tests,
// demos).
func NewIdentity() (*Identity, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate device key: %w", err)
	}
	return identityFromKey(priv)
}

func identityFromKey(priv crypto.PrivKey) (*Identity, error) {
	if priv.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("device key: type %v, want Ed25519", priv.Type())
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	return &Identity{priv: priv, id: id}, nil
}

// LoadOrCreateIdentity reads the device key stored at path (the libp2p
// protobuf encoding of the private key), creating it with mode 0600 if the
// file does not exist. The file is written to a temporary name, synced and
// renamed, so a crash never leaves a truncated key.
func LoadOrCreateIdentity(path string) (*Identity, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		priv, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("load device key %s: %w", path, err)
		}
		return identityFromKey(priv)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load device key: %w", err)
	}
	ident, err := NewIdentity()
	if err != nil {
		return nil, err
	}
	b, err = crypto.MarshalPrivateKey(ident.priv)
	if err != nil {
		return nil, fmt.Errorf("store device key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store device key: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".identity-*")
	if err != nil {
		return nil, fmt.Errorf("store device key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("store device key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("store device key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("store device key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store device key: %w", err)
	}
	// Link rather than rename so that two processes creating the key at the
	// same time agree on one: the loser reads the winner's key.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateIdentity(path)
		}
		// A file system without hard links (FAT, some phone storage):
		// rename, which may replace a key created at the same moment.
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("store device key: %w", err)
		}
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return ident, nil
}

// PeerID returns the device's libp2p peer ID.
func (i *Identity) PeerID() peer.ID { return i.id }

// PrivKey returns the libp2p private key (for libp2p.Identity).
func (i *Identity) PrivKey() crypto.PrivKey { return i.priv }

// Sign signs data with the device key.
func (i *Identity) sign(data []byte) ([]byte, error) { return i.priv.Sign(data) }
