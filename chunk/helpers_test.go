package chunk

import "github.com/ipfs/go-cid"

func castCID(b []byte) (cid.Cid, error) { return cid.Cast(b) }
