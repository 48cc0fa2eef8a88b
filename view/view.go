// Package view defines the JSON documents fieldsync writes for people
// and programs to read: an observation, its attachments and their
// variants, and a version of its history. They are the one shape of an
// observation in `fieldsync ls --json` and `show --json`, in the web app's
// HTTP API and in the exports (BagIt's observations.json); docs/json.md
// documents every field once.
//
// The signed records themselves are dag-cbor (package project,
// docs/records.md); these documents are views of them, with what this
// device knows besides (whether a variant is here, its last fixity check,
// where an export wrote it). Field names are snake_case; times are RFC
// 3339 in UTC; CIDs and peer IDs are their usual strings. A field this
// device does not know is left out, never guessed.
//
// The package imports nothing of fieldsync: a program reading fieldsync's
// output can use these types alone.
package view

import "time"

// Observation is one observation as it stands: the winning version's
// content.
type Observation struct {
	ID      string    `json:"id"`
	Record  string    `json:"record"` // CID of the version shown (the winner)
	Author  string    `json:"author"` // peer ID of the device that signed it
	Created time.Time `json:"created"`
	// TimeGuessed: Created is a guess (the file's modification date: the
	// photo carried no time), not a time the observation recorded.
	TimeGuessed bool      `json:"time_guessed,omitempty"`
	Updated     time.Time `json:"updated"`
	// Heads is the number of concurrent versions no other replaces: more
	// than one is a fork (two devices edited it without seeing each
	// other's edit); the winner is shown, the others are in the history.
	Heads    int       `json:"heads"`
	Deleted  bool      `json:"deleted"`
	Position *Position `json:"position"` // null when unknown
	Tags     []string  `json:"tags"`     // never null
	Notes    string    `json:"notes"`
	// Category is the project category the observation is of; null for
	// none.
	Category *CategoryRef `json:"category"`
	// Fields are its values for the category's fields, by field key: a
	// string (text, select one, date as 2026-05-17), a number, or an array
	// of strings (select many). Never null.
	Fields      map[string]any `json:"fields"`
	Attachments []Attachment   `json:"attachments"` // never null
}

// CategoryRef names an observation's category.
type CategoryRef struct {
	ID string `json:"id"`
	// Name and Color are the category's as this device knows it (a
	// removed category keeps its name); left out when this device has no
	// category of that ID (its category records have not arrived yet).
	Name  string `json:"name,omitempty"`
	Color string `json:"color,omitempty"`
}

// Position is a WGS 84 position in decimal degrees.
type Position struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	// AccuracyM is the radius of uncertainty in metres; left out when
	// unknown.
	AccuracyM float64 `json:"accuracy_m,omitempty"`
}

// Attachment is a file attached to an observation.
type Attachment struct {
	Kind      string   `json:"kind"` // photo, audio, video, file or track
	MediaType string   `json:"media_type"`
	Name      string   `json:"name"` // the file's name as its author gave it; may be empty
	Original  *Variant `json:"original,omitempty"`
	Preview   *Variant `json:"preview,omitempty"`   // photos only
	Thumbnail *Variant `json:"thumbnail,omitempty"` // photos only
	// Points is a track's points blob (docs/fielddata.md), and Track what
	// the record says of them; tracks only.
	Points *Variant `json:"points,omitempty"`
	Track  *Track   `json:"track,omitempty"`
}

// Track is what an observation's record says of a track.
type Track struct {
	Name     string `json:"name"` // the GPX file's first track or route name; may be empty
	Points   int    `json:"points"`
	Segments int    `json:"segments"`
	// Start and End are the first and last point times; null when the
	// points carry no time.
	Start *time.Time `json:"start"`
	End   *time.Time `json:"end"`
	// BBox is west, south, east, north in degrees (GeoJSON's order).
	BBox    [4]float64 `json:"bbox"`
	LengthM float64    `json:"length_m"` // along the segments
}

// Category is one of the project's categories, as it stands.
type Category struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Set  string `json:"set,omitempty"` // the category set it came from
	// Color is "#rrggbb" (or #rgb, #rrggbbaa); left out when none.
	Color string `json:"color,omitempty"`
	// Icon is a data: URL of an SVG or PNG image, at most 8 KiB; left
	// out when none. Show it as an image (an <img> src), never inline: an
	// SVG may hold scripts.
	Icon      string    `json:"icon,omitempty"`
	Tags      []string  `json:"tags"`       // given to an observation of it when made; never null
	AppliesTo []string  `json:"applies_to"` // observation, track
	Order     int       `json:"order"`
	Fields    []Field   `json:"fields"` // never null
	Removed   bool      `json:"removed,omitempty"`
	Record    string    `json:"record"` // CID of the version shown
	Author    string    `json:"author"` // the device that signed it
	Updated   time.Time `json:"updated"`
}

// Field is one field of a category.
type Field struct {
	Key         string   `json:"key"`
	Label       string   `json:"label"`
	Type        string   `json:"type"` // text, number, select_one, select_many, date
	Help        string   `json:"help,omitempty"`
	Placeholder string   `json:"placeholder,omitempty"`
	Options     []Option `json:"options,omitempty"` // select fields only
}

// Option is one choice of a select field.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// Variant is one stored form of an attachment: a blob named by its CID.
type Variant struct {
	CID    string `json:"cid"`
	Size   int64  `json:"size"`
	Width  int    `json:"width,omitempty"` // images only
	Height int    `json:"height,omitempty"`
	// State is whether this device holds the blob: present (complete and
	// verified), partial (Percent of its bytes verified) or absent. Left
	// out where it is not known.
	State   string `json:"state,omitempty"`
	Percent int    `json:"percent,omitempty"`
	// Fixity is the blob's last fixity check here, when asked for.
	Fixity *Fixity `json:"fixity,omitempty"`
	// Path and SHA256 are set by exports that write the blob as a file:
	// the path relative to the export's payload directory and the file's
	// sha256 (hex).
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Fixity is one fixity check: the blob's bytes hashed against its CID.
type Fixity struct {
	CheckedAt time.Time `json:"checked_at"`
	Result    string    `json:"result"` // ok, corrupt, truncated, missing
}

// Version is one version in an observation's history.
type Version struct {
	Record   string    `json:"record"` // the version's CID
	Author   string    `json:"author"`
	Seq      uint64    `json:"seq"` // its place in its author's log
	Updated  time.Time `json:"updated"`
	Links    []string  `json:"links"` // the versions it replaces; never null
	Deleted  bool      `json:"deleted"`
	Position *Position `json:"position"`
	Tags     []string  `json:"tags"`
	Notes    string    `json:"notes"`
	// Category and Fields as in Observation (the category by its ID
	// only).
	Category *CategoryRef   `json:"category"`
	Fields   map[string]any `json:"fields"`
	// Counted is false when its author had no right to sign it (blocked):
	// it is kept, but does not count.
	Counted bool `json:"counted"`
	// Head: no counted version replaces it. Winner: the head shown.
	Head   bool `json:"head"`
	Winner bool `json:"winner"`
}

// Progress is a sync's state at one moment, as `fieldsync sync --json`
// prints it once a second and the mobile binding reports it.
type Progress struct {
	Time     time.Time `json:"time"`
	Complete bool      `json:"complete"` // everything wanted is here and verified
	// Idle: nothing more can be fetched from the connected peers now.
	Idle     bool                     `json:"idle"`
	Rate     float64                  `json:"rate_bytes_per_s"` // over the last 10 s or so; 0 until known
	ETA      float64                  `json:"eta_s"`            // seconds left, smoothed; 0 when nothing is missing; -1 when unknown (no rate yet, stalled, idle)
	Stalled  float64                  `json:"stalled_s"`        // seconds without payload, once overdue (over 10 s); 0 otherwise
	Records  int                      `json:"records_applied"`
	Received int64                    `json:"bytes_received"`
	Sent     int64                    `json:"bytes_sent"`
	Leaves   int                      `json:"leaves_fetched"`
	Refetch  int                      `json:"leaves_refetched"`
	Classes  map[string]ClassProgress `json:"classes"` // by class name: thumbnail, preview, original, attachment
	Peers    []PeerProgress           `json:"peers"`
	// Archives are the connected always-on devices and what they still
	// lack of the files this device holds (a sync is not complete until
	// none lacks anything).
	Archives []ArchiveProgress `json:"archives,omitempty"`
}

// ArchiveProgress is what one connected always-on device still lacks of
// the files this device holds, in the classes it keeps.
type ArchiveProgress struct {
	ID           string `json:"id"`
	Checked      bool   `json:"checked"` // asked since this sync began
	Held         int    `json:"files_held"`
	Lacking      int    `json:"files_lacking"`
	LackingBytes int64  `json:"bytes_lacking"`
}

// ClassProgress counts one class's wanted files and bytes against those
// here.
type ClassProgress struct {
	FilesDone   int   `json:"files_done"`
	FilesWanted int   `json:"files_wanted"`
	BytesDone   int64 `json:"bytes_done"`
	BytesWanted int64 `json:"bytes_wanted"`
}

// PeerProgress is one peer's state and traffic in a sync.
type PeerProgress struct {
	ID       string  `json:"id"`
	State    string  `json:"state"` // connected, disconnected, dropped
	Reason   string  `json:"reason,omitempty"`
	Rate     float64 `json:"rate_bytes_per_s"`
	Received int64   `json:"bytes_received"`
	Sent     int64   `json:"bytes_sent"`
	// Path is how the peer is reached: "lan", "direct" (over the
	// internet) or "relayed" (through an always-on peer); "" when not
	// connected.
	Path string `json:"path,omitempty"`
}

// Member is one device of the project as a device knows it.
type Member struct {
	Peer      string     `json:"peer"`
	Name      string     `json:"name"` // the name it gave itself; "" if none reached this device
	Role      string     `json:"role"` // creator, coordinator, member, blocked
	Since     time.Time  `json:"since"`
	LastSeen  *time.Time `json:"last_seen"`            // when this device last had a session with it; null: never
	Invite    string     `json:"invite,omitempty"`     // the invite it redeemed (first 8 hex digits of its ID)
	InvitedBy string     `json:"invited_by,omitempty"` // the device that made that invite
	Self      bool       `json:"self,omitempty"`       // the device answering
}
