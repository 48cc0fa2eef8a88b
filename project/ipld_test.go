package project

import (
	"bytes"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// TestIPLDReadsRecords checks the records against go-ipld-prime's DAG-CBOR
// codec (what Kubo and go-car use): each block decodes, and re-encodes to
// the same bytes, so it is canonical DAG-CBOR by another implementation's
// rules. The category, field values and track records are checked too.
func TestIPLDReadsRecords(t *testing.T) {
	for _, r := range append(seedRecords(t), fieldRecords(t)...) {
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(r.Block)); err != nil {
			t.Fatalf("%s: %v", r.Kind, err)
		}
		var out bytes.Buffer
		if err := dagcbor.Encode(nb.Build(), &out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), r.Block) {
			t.Errorf("%s: go-ipld-prime re-encodes differently:\n%x\n%x", r.Kind, out.Bytes(), r.Block)
		}
	}
}
