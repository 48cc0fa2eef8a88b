package mem_test

import (
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/mem"
)

func TestConformance(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store { return mem.New() })
}
