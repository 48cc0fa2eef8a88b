package archive_test

import (
	"fmt"

	"github.com/fieldsync/fieldsync/archive"
	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
)

// A device writes its state to a file; the device that makes its bundle
// reads it back.
func ExampleParseState() {
	project := chunk.RawCID([]byte("stands in for a genesis record CID"))
	st := archive.NewState(project, "", archive.Vector{}, archive.FieldSet)
	st.AddBlob(chunk.RawCID([]byte("a thumbnail")))
	st.AddBlob(chunk.RawCID([]byte("a preview")))
	b, err := st.MarshalBinary()
	if err != nil {
		panic(err)
	}
	got, err := archive.ParseState(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(b), "bytes")
	fmt.Println(got.Project == project, len(got.Blobs()), "blobs")
	fmt.Println("wants originals:", got.Wants.Has(blob.ClassOriginal))
	// Output:
	// 117 bytes
	// true 2 blobs
	// wants originals: false
}

// A bundle split across files names its parts beside the first.
func ExamplePartPath() {
	for n := 1; n <= 3; n++ {
		fmt.Println(archive.PartPath("/media/usb/river.car", n))
	}
	// Output:
	// /media/usb/river.car
	// /media/usb/river.2.car
	// /media/usb/river.3.car
}
