package seal_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/seal"
)

// A member seals a blob for the archive, names it by its sealed CID, and
// another member opens it.
func Example() {
	photo := bytes.Repeat([]byte("not really a photo "), 100_000) // 1.9 MB, two leaves
	sk, _ := chunk.Sum(context.Background(), bytes.NewReader(photo))
	plainCID := sk.Root

	k, _ := seal.NewKey() // the project's key for the current epoch
	size := int64(len(photo))
	sealedCID, _ := seal.SealedCID(k, plainCID, size, bytes.NewReader(photo))
	sealed, _ := io.ReadAll(seal.NewSealer(k, plainCID, size, bytes.NewReader(photo)))

	// The archive checks the sealed bytes by their CID, without the key.
	check, _ := chunk.Sum(context.Background(), bytes.NewReader(sealed))
	fmt.Println("archive verifies:", check.Root == sealedCID)

	// A member with the key opens them.
	plain, err := io.ReadAll(seal.NewOpener(k, plainCID, int64(len(sealed)), bytes.NewReader(sealed)))
	fmt.Println("member opens:", err == nil && bytes.Equal(plain, photo))
	fmt.Println("leaves:", seal.Leaves(size), "overhead:", seal.SealedSize(size)-size, "bytes")
	// Output:
	// archive verifies: true
	// member opens: true
	// leaves: 2 overhead: 80 bytes
}

// Blocking a member: a new epoch, its key wrapped to each remaining member.
func ExampleWrapKey() {
	var ring seal.Keyring
	ring.Next()                                      // epoch 0, the project's first key
	pub, priv, _ := ed25519.GenerateKey(rand.Reader) // a remaining member's libp2p identity

	e, k, _ := ring.Next() // the block: epoch 1
	wrapped, _ := seal.WrapKey(k, e, pub)

	got, epoch, err := seal.UnwrapKey(wrapped, priv)
	fmt.Println(len(wrapped), "bytes; epoch", epoch, "unwrapped:", err == nil && got == k)
	// Output: 85 bytes; epoch 1 unwrapped: true
}
