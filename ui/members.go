package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/view"
	"github.com/libp2p/go-libp2p/core/peer"
)

// handleMembers lists the project's devices: {"members": [Member…]}
// (view.Member: peer, name, role, since, last_seen, invite, invited_by,
// self), the creator first.
func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	ms, err := s.cfg.Node.Members(r.Context())
	if err != nil {
		httpError(w, http.StatusInternalServerError, "members: %v", err)
		return
	}
	out := make([]view.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.JSON())
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

// handleBlock blocks a member: it gets nothing more from any device that
// learns of the block.
func (s *Server) handleBlock(w http.ResponseWriter, r *http.Request) {
	s.setRole(w, r, project.RoleBlocked)
}

// handleRole gives a member a role: {"role": "member" | "coordinator" |
// "blocked"} (member again unblocks).
func (s *Server) handleRole(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Role string `json:"role"`
	}
	if !readJSON(w, r, &b) {
		return
	}
	switch role := project.Role(b.Role); role {
	case project.RoleMember, project.RoleCoordinator, project.RoleBlocked:
		s.setRole(w, r, role)
	default:
		httpError(w, http.StatusBadRequest, `role %q: want "member", "coordinator" or "blocked"`, b.Role)
	}
}

// setRole checks who may do what, signs the membership record and answers
// with the members.
func (s *Server) setRole(w http.ResponseWriter, r *http.Request, role project.Role) {
	n := s.cfg.Node
	verb := "change a device's role"
	if role == project.RoleBlocked {
		verb = "block a device"
	}
	if info, _ := n.Project(); !info.Role.CanManage() {
		httpError(w, http.StatusForbidden, "only the project's creator or a coordinator may %s; this device is %s", verb, roleArticle(info.Role))
		return
	}
	if code, why := s.busy(); why != "" {
		httpError(w, code, "%s", why)
		return
	}
	raw := r.PathValue("peer")
	id, err := peer.Decode(raw)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%q is not a peer ID: %v", raw, err)
		return
	}
	m, err := n.Member(r.Context(), id)
	if errors.Is(err, node.ErrNotFound) {
		httpError(w, http.StatusNotFound, "device %s is not a member of this project", id)
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	switch {
	case m.Self:
		what := "change its own role"
		if role == project.RoleBlocked {
			what = "block itself"
		}
		httpError(w, http.StatusConflict, "%s is this device: a device cannot %s", m.Label(), what)
		return
	case m.Role == project.RoleCreator:
		httpError(w, http.StatusConflict, "%s is the project's creator: its role cannot change", m.Label())
		return
	case m.Role == role:
		httpError(w, http.StatusConflict, "%s is already %s", m.Label(), roleArticle(role))
		return
	}
	if err := n.SetRole(r.Context(), id, role); err != nil {
		switch {
		case errors.Is(err, node.ErrNotAuthorized):
			httpError(w, http.StatusForbidden, "%s", strings.ReplaceAll(err.Error(), "project: ", ""))
		case errors.Is(err, node.ErrBusy):
			_, why := s.busy()
			httpError(w, http.StatusServiceUnavailable, "%s", why)
		default:
			httpError(w, http.StatusInternalServerError, "%s %s: %v", verb, m.Label(), err)
		}
		return
	}
	s.handleMembers(w, r)
}

// roleArticle is a role in a sentence: "a member", "the creator",
// "blocked", "not a member".
func roleArticle(r project.Role) string {
	switch r {
	case project.RoleNone:
		return "not a member"
	case project.RoleCreator:
		return "the creator"
	case project.RoleBlocked:
		return "blocked"
	}
	return fmt.Sprintf("a %s", r)
}
