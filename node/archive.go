package node

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/fieldsync/fieldsync/archive"
	"github.com/fieldsync/fieldsync/archive/adapter"
)

// ExportCAR writes the project to a CAR file at path (Kubo imports it with
// 'ipfs dag import'): its records, then every blob of classes held here,
// each in transfer order, signed by this device. Blobs not complete here
// are listed in the report and left out.
func (n *Node) ExportCAR(ctx context.Context, path string, classes archive.ClassSet) (*archive.ExportReport, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	if err := n.needStore(); err != nil {
		return nil, err
	}
	return archive.ExportFile(ctx, path, adapter.New(p), n.store, archive.ExportOptions{Classes: classes, Key: n.self.PrivKey()})
}

// ExportBag writes the project as a BagIt bag (RFC 8493) into the new
// directory dir: the originals, observations.json and a GeoJSON file, with
// sha256 manifests any archivist can check with sha256sum. A dir that
// exists gives an error wrapping fs.ErrExist.
func (n *Node) ExportBag(ctx context.Context, dir string, opts archive.BagOptions) (*archive.BagReport, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	if err := n.needStore(); err != nil {
		return nil, err
	}
	return archive.ExportBag(ctx, dir, adapter.New(p), n.store, opts)
}

// ImportCAR imports a CAR file made by ExportCAR (or a bundle): every
// record passes the checks of a network sync, every block is hashed, and
// blobs this device wants are stored.
func (n *Node) ImportCAR(ctx context.Context, path string) (*archive.Report, error) {
	return n.importCAR(ctx, path, archive.Import)
}

// ImportBundle imports one file of a sneakernet bundle (ExportBundle).
func (n *Node) ImportBundle(ctx context.Context, path string) (*archive.Report, error) {
	return n.importCAR(ctx, path, archive.ImportBundle)
}

func (n *Node) importCAR(ctx context.Context, path string, imp func(context.Context, io.Reader, archive.Sink, archive.BlobSink, archive.ImportOptions) (*archive.Report, error)) (*archive.Report, error) {
	p, err := n.writer()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep, err := imp(ctx, f, adapter.New(p), n.store, archive.ImportOptions{TempDir: n.dir})
	if rep != nil && rep.RecordsNew > 0 {
		n.checkRoles()
		n.changed()
	} else {
		n.notify()
	}
	return rep, err
}

// BundleState returns this device's state for a sneakernet bundle: its
// version vector, the complete blobs it holds and the classes it wants,
// signed with its key. Carry it to a device that has the data, which
// exports what this one lacks (ExportBundle).
func (n *Node) BundleState(ctx context.Context) (*archive.State, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	st, err := adapter.New(p).State(ctx, n.blobs())
	if err != nil {
		return nil, err
	}
	if err := st.Sign(n.self.PrivKey()); err != nil {
		return nil, err
	}
	return st, nil
}

// ExportBundle writes a sneakernet bundle at path: everything this device
// holds (for nil), or what the device whose state is given lacks. With
// maxBytes > 0 it is split into parts of at most that size (path,
// path.2, path.3, ...: archive.PartPath).
func (n *Node) ExportBundle(ctx context.Context, path string, forState *archive.State, maxBytes int64) (*archive.ExportReport, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	if err := n.needStore(); err != nil {
		return nil, err
	}
	opts := archive.ExportOptions{Key: n.self.PrivKey(), MaxBytes: maxBytes}
	src := adapter.New(p)
	if forState == nil {
		return archive.ExportAll(ctx, archive.FileParts(path), src, n.store, opts)
	}
	rep, err := archive.ExportFor(ctx, archive.FileParts(path), forState, src, n.store, opts)
	if err != nil {
		return nil, fmt.Errorf("bundle for %s: %w", forState.Device, err)
	}
	return rep, nil
}
