package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Errors callers branch on with errors.Is. Their text says what happened
// in a device's words; what a person should do next is the caller's to say
// (the command names its own subcommands, an app its own buttons).
var (
	// ErrNoDevice: the data directory does not exist or holds no device
	// key (Init makes one).
	ErrNoDevice = errors.New("no fieldsync device here")
	// ErrNotDir: the data directory's path is a file.
	ErrNotDir = errors.New("not a directory")
	// ErrNotWritable: the data directory cannot be written.
	ErrNotWritable = errors.New("data directory is not writable")
	// ErrBusy: another process (a running serve) holds the data
	// directory's blob store.
	ErrBusy = errors.New("data directory in use by another fieldsync process")
	// ErrReadOnly: the node was opened ReadOnly and cannot write blobs.
	ErrReadOnly = errors.New("data directory opened read-only")
	// ErrNoProject: the device has not created or joined a project.
	ErrNoProject = errors.New("this device has no project yet")
	// ErrHasProject: the device already holds a project (one per data
	// directory).
	ErrHasProject = errors.New("this device already holds a project")
	// ErrNoPeer: no member of the project could be reached.
	ErrNoPeer = errors.New("no project member reachable")
	// ErrNotMember: the peers reached do not know this device as a member
	// of their project (it never joined, or joined through a device they
	// have not synced with yet).
	ErrNotMember = errors.New("this device is not a member of that project")
	// ErrPeersDropped: every peer this sync reached sent data that failed
	// verification and was dropped for this run (Status lists them).
	ErrPeersDropped = errors.New("every connected peer sent data that failed verification and was dropped")
	// ErrBlocked: this device was blocked from the project.
	ErrBlocked = errors.New("this device was blocked from the project")
	// ErrNoAddress: an invite needs an address where this device can be
	// reached, and none is known (the network is not started here, no
	// serve runs on this data directory, and none was given).
	ErrNoAddress = errors.New("no address to put in the invite")
	// ErrNotStarted: the network is not started (Start, Sync or Serve).
	ErrNotStarted = errors.New("the network is not started")
	// ErrStarted: Start was called twice with different options.
	ErrStarted = errors.New("the network is already started")
	// ErrNotFound: no observation, record, device or blob by that name
	// here.
	ErrNotFound = project.ErrNotFound
	// ErrNotAuthorized: this device's role does not allow it (only the
	// creator and coordinators change roles and block).
	ErrNotAuthorized = errors.New("not allowed")
	// ErrNoSpace: the disk holding the data directory is full; an import,
	// add or sync stopped there (a *SpaceError says how much more it
	// needs). errors.Is(err, syscall.ENOSPC) holds too.
	ErrNoSpace = errors.New("the disk holding the data directory is full")
)

// Invite errors, shared with package project: a joiner gets the same
// values whether the inviting device or its own parser found the problem.
var (
	ErrInviteMalformed = project.ErrInviteMalformed
	ErrInviteChecksum  = project.ErrInviteChecksum
	ErrInviteVersion   = project.ErrInviteVersion
	ErrInviteExpired   = project.ErrInviteExpired
	ErrInviteUsed      = project.ErrInviteUsed
	ErrInviteRevoked   = project.ErrInviteRevoked
	ErrInviteUnknown   = project.ErrInviteUnknown
	ErrInviteProof     = project.ErrInviteProof
	ErrInviteBusy      = project.ErrInviteBusy
	// ErrInviterUnreachable: the inviting device did not answer at the
	// code's addresses (it is not running, or not reachable from here).
	ErrInviterUnreachable = errors.New("the inviting device did not answer")
	// ErrInviterNotFound: no device on the local network answered for a
	// short code (the inviter is not serving here, or on another network).
	ErrInviterNotFound = errors.New("the inviting device was not found on this network")
)

// DirError is an error about the data directory itself.
type DirError struct {
	Dir string
	Err error // ErrNoDevice, ErrNotDir, ErrNotWritable, ErrBusy, or an OS error
}

func (e *DirError) Error() string { return fmt.Sprintf("data directory %s: %v", e.Dir, e.Err) }
func (e *DirError) Unwrap() error { return e.Err }

// ProjectError names the project an error is about.
type ProjectError struct {
	Name, ID string
	Err      error // ErrHasProject
}

func (e *ProjectError) Error() string { return fmt.Sprintf("%v (%q, %s)", e.Err, e.Name, e.ID) }
func (e *ProjectError) Unwrap() error { return e.Err }

// InviteError is a failed join: the code's inviter and addresses, and why.
type InviteError struct {
	Inviter string   // the inviting device's peer ID
	Addrs   []string // where the code said it is
	Err     error    // one of the ErrInvite* values, ErrInviterUnreachable, or a network error
}

func (e *InviteError) Error() string {
	if errors.Is(e.Err, ErrInviterUnreachable) {
		return fmt.Sprintf("%v: %s at %v", e.Err, e.Inviter, e.Addrs)
	}
	return e.Err.Error()
}
func (e *InviteError) Unwrap() error { return e.Err }

// RefusedError is a sync refused by a peer: it does not know this device
// as a member (ErrNotMember), or blocked it (ErrBlocked).
type RefusedError struct {
	Peer peer.ID
	Err  error
}

func (e *RefusedError) Error() string { return fmt.Sprintf("%v (peer %s refused it)", e.Err, e.Peer) }
func (e *RefusedError) Unwrap() error { return e.Err }

// BlockedError: this device was blocked from the project, by device By
// (its name ByName, when this device knows it) at At. errors.Is(err,
// ErrBlocked) holds.
type BlockedError struct {
	By     peer.ID
	ByName string
	At     time.Time
}

func (e *BlockedError) Error() string {
	who := e.ByName
	if who == "" {
		who = ShortID(e.By)
	}
	return fmt.Sprintf("%v by %s on %s", ErrBlocked, who, e.At.Local().Format("2006-01-02 15:04"))
}
func (e *BlockedError) Unwrap() error { return ErrBlocked }

// MarshalJSON writes {"by", "by_name", "at"}.
func (e *BlockedError) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"by": e.By.String(), "by_name": e.ByName, "at": e.At.UTC()})
}

// SpaceError is an import, add, edit or sync stopped because the disk
// holding the data directory is full. What was done before stays: an
// import's observations made before (the group of files in progress is
// discarded whole, no later file is tried), a sync's verified leaves and
// blobs (the next sync resumes from them). errors.Is(err, ErrNoSpace)
// and errors.Is(err, syscall.ENOSPC) hold.
type SpaceError struct {
	Dir string // the data directory
	// Need is about how many more bytes the work needs: an import's files
	// not imported (originals and variants), an add's files, a sync's
	// wanted bytes not here yet.
	Need int64
	// Free is what the file system says is free for this user, measured
	// when the work stopped (after an import discarded its group); -1 if
	// it cannot tell.
	Free int64
	Err  error // the store's or the database's error
}

func (e *SpaceError) Error() string {
	free := "unknown"
	if e.Free >= 0 {
		free = fmt.Sprintf("%d bytes", e.Free)
	}
	return fmt.Sprintf("%v (%s): about %d more bytes needed, %s free: %v", ErrNoSpace, e.Dir, e.Need, free, e.Err)
}

// Unwrap gives ErrNoSpace and the store's error (which wraps the OS's
// ENOSPC).
func (e *SpaceError) Unwrap() []error { return []error{ErrNoSpace, e.Err} }

// Bytes formats a byte count for people, with a binary unit: "512 B",
// "1.5 MiB". The command and the web app say sizes in these words.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
