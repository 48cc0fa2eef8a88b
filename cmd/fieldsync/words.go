package main

import (
	"errors"
	"fmt"

	"github.com/fieldsync/fieldsync/node"
)

// words turns the node's typed errors into what a person at this command
// line reads (what happened and what to do next, naming the commands to
// run) and the exit code they give. Errors it does not know pass through
// unchanged, as failures.
func words(err error) (error, int) {
	var be *node.BlockedError
	if errors.As(err, &be) {
		return fmt.Errorf("%v: the project's devices give it nothing more; if this is a mistake, ask a coordinator to give this device its role back", be), exitBlocked
	}
	if errors.Is(err, node.ErrBlocked) {
		return fmt.Errorf("%v: it gets nothing more from the project's devices", err), exitBlocked
	}
	if errors.Is(err, node.ErrNotMember) {
		var re *node.RefusedError
		who := "the peer"
		if errors.As(err, &re) {
			who = "peer " + re.Peer.String()
		}
		return fmt.Errorf("this device is not a member of that project: ask a coordinator for an invite (%s does not know this device; if it joined through another device, sync with that one first)", who), exitNotMember
	}
	var se *node.SpaceError
	if errors.As(err, &se) {
		return fmt.Errorf("%s; free some space (or use --data on a larger disk), then run the same command again", diskFull(se, "this command")), exitNoSpace
	}
	return sentence(err), exitFailure
}

// diskFull says that the disk of se is full and how much what needs
// (the commands that know more add what was kept and what to run).
func diskFull(se *node.SpaceError, what string) string {
	s := fmt.Sprintf("the disk holding %s is full: %s needs about %s more", se.Dir, what, humanBytes(max(se.Need, 0)))
	if se.Free >= 0 {
		s += fmt.Sprintf(" and %s is free", humanBytes(se.Free))
	}
	return s
}

// sentence says what went wrong for the errors that fail with code 1.
func sentence(err error) error {
	if w := fieldDataWords(err); w != nil {
		return w
	}
	var de *node.DirError
	var pe *node.ProjectError
	var ie *node.InviteError
	switch {
	case errors.As(err, &de) && errors.Is(err, node.ErrNoDevice):
		return fmt.Errorf("no fieldsync device in %s: run 'fieldsync init --data %s' (or 'fieldsync join CODE --data %s')", de.Dir, de.Dir, de.Dir)
	case errors.As(err, &de) && errors.Is(err, node.ErrBusy):
		return fmt.Errorf("data directory %s is in use by another fieldsync process (is 'fieldsync serve' running there? stop it, or use another --data)", de.Dir)
	case errors.As(err, &de) && errors.Is(err, node.ErrNotWritable):
		return fmt.Errorf("data directory %s is not writable: check its permissions or pick another --data (%v)", de.Dir, errors.Unwrap(de.Err))
	case errors.As(err, &de) && errors.Is(err, node.ErrNotDir):
		return fmt.Errorf("data directory %s is not a directory: give a directory with --data", de.Dir)
	case errors.As(err, &de) && errors.Is(err, node.ErrReadOnly):
		return fmt.Errorf("%v: this command does not write files", err)
	case errors.Is(err, node.ErrNoProject):
		return errors.New("this device has no project yet: create one with 'fieldsync init --project NAME' or join one with 'fieldsync join CODE'")
	case errors.As(err, &pe) && errors.Is(err, node.ErrHasProject):
		return fmt.Errorf("this device already holds project %q (%s): use another --data directory for a second project", pe.Name, pe.ID)
	case errors.Is(err, node.ErrPeersDropped):
		return fmt.Errorf("%v: what was verified is kept; 'fieldsync status' names the peers and blobs; sync again with another device", err)
	case errors.Is(err, node.ErrNoPeer):
		return fmt.Errorf("%v: check that a project member runs 'fieldsync serve' and its address (--peer)", err)
	case errors.Is(err, node.ErrNoAddress):
		return errors.New("no address to put in the invite: start 'fieldsync serve' on this data directory first (or use 'fieldsync serve --invite'), or give --addr")
	case errors.Is(err, node.ErrInviteMalformed), errors.Is(err, node.ErrInviteChecksum), errors.Is(err, node.ErrInviteVersion):
		return fmt.Errorf("%s (check the code for typos, or ask for a new one)", trimPkg(err))
	case errors.As(err, &ie):
		switch {
		case errors.Is(err, node.ErrInviteExpired), errors.Is(err, node.ErrInviteUsed), errors.Is(err, node.ErrInviteRevoked),
			errors.Is(err, node.ErrInviteUnknown), errors.Is(err, node.ErrInviteProof):
			return fmt.Errorf("%s: ask the project's coordinator for a new code", trimPkg(err))
		case errors.Is(err, node.ErrInviterNotFound):
			return fmt.Errorf("%v: check that the inviting device runs 'fieldsync serve' on this same network (Wi-Fi or hotspot), or give its address with --peer", trimPkg(ie.Err))
		case errors.Is(err, node.ErrInviteBusy):
			return fmt.Errorf("%s: wait a minute and try again, checking the code", trimPkg(err))
		case errors.Is(err, node.ErrInviterUnreachable):
			return fmt.Errorf("the inviting device %s did not accept this invite: it may have already been used, been revoked or expired, or that device is not running 'fieldsync serve' at %v (%v)", ie.Inviter, ie.Addrs, errors.Unwrap(ie.Err))
		}
	}
	// The packages' own prefixes ("project: ") mean nothing to a person.
	return errors.New(trimPkg(err))
}

// observationErr says what went wrong with observation id.
func observationErr(id string, err error) error {
	if errors.Is(err, node.ErrNotFound) {
		return fmt.Errorf("no observation %q on this device (list them with 'fieldsync ls')", id)
	}
	return err
}

// pathWords says how a connected peer is reached (node.PeerEvent.Path,
// view.PeerProgress.Path).
var pathWords = map[string]string{
	"lan":     "on the local network",
	"direct":  "directly over the internet",
	"relayed": "through an always-on device's relay",
}
