package project

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/track"
	"github.com/ipfs/go-cid"
)

// crossing and road are the categories the tests use.
func crossing() Category {
	return Category{ID: "river-crossing", Name: "River crossing", Color: "#1e90ff", Tags: []string{"water=crossing"},
		Icon: []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" r="10"/></svg>`), IconType: IconSVG,
		Applies: []string{AppliesObservation}, Set: "Rio Negro 1.0",
		Fields: []CategoryField{
			{Key: "depth", Type: FieldNumber, Label: "Depth (m)"},
			{Key: "who", Type: FieldText, Label: "Who was there"},
			{Key: "kind", Type: FieldSelectOne, Label: "Crossing type", Options: []Option{{"ford", "Ford"}, {"bridge", "Bridge"}, {"canoe", "Canoe"}}},
			{Key: "uses", Type: FieldSelectMany, Label: "Used for", Options: []Option{{"fishing", "Fishing"}, {"school", "Going to school"}, {"market", "Market"}}},
			{Key: "seen", Type: FieldDate, Label: "Date seen"},
		}}
}

func road() Category {
	return Category{ID: "logging-road", Name: "Logging road", Color: "#8b4513", Applies: []string{AppliesTrack}, Order: 1,
		Fields: []CategoryField{{Key: "width", Type: FieldNumber, Label: "Width (m)"}}}
}

func TestCategoriesSyncAndAuthority(t *testing.T) {
	a := newProject(t, "river")
	b := addDevice(t, a, RoleMember)
	mustOK(t, syncOnce(t, a, b))

	ch, err := a.PutCategories(ctx, []Category{crossing(), road()}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Added) != 2 || len(ch.Records) != 2 {
		t.Fatalf("first put: %+v", ch)
	}
	mustOK(t, syncOnce(t, a, b))
	cs, err := b.Categories(ctx)
	if err != nil || len(cs) != 2 || cs[0].ID != "river-crossing" || cs[1].ID != "logging-road" {
		t.Fatalf("categories on b: %+v %v", cs, err)
	}
	if got := cs[0]; !bytes.Equal(got.Icon, crossing().Icon) || len(got.Fields) != 5 || got.Fields[2].Options[1].Label != "Bridge" || got.Author != a.Self().PeerID() {
		t.Fatalf("crossing on b: %+v", got)
	}

	// The same set again signs nothing.
	ch, err = a.PutCategories(ctx, []Category{crossing(), road()}, true)
	if err != nil || len(ch.Records) != 0 || len(ch.Unchanged) != 2 {
		t.Fatalf("same set again: %+v %v", ch, err)
	}
	// A member may not change them, through the API or by signing a
	// record itself: that record is kept but does not count.
	if _, err := b.PutCategories(ctx, []Category{road()}, false); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("member put: %v", err)
	}
	forged := crossing()
	forged.Name = "Forged"
	if _, err := b.commit(ctx, &forged); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("member commit: %v", err)
	}
	h := b.vec[b.Self().PeerID()]
	r, err := newRecord(b.Self(), b.ID(), h.seq+1, h.cid, &forged)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := a.Apply(ctx, [][]byte{r.Block})
	if !res[0].Stored || !errors.Is(res[0].Err, ErrNotAuthorized) {
		t.Fatalf("a member's category record: %+v", res[0])
	}
	if c, _ := a.Category(ctx, "river-crossing"); c.Name != "River crossing" {
		t.Fatalf("a member's record counted: %q", c.Name)
	}

	// A changed set: one changed, one removed (replace), one added.
	c2 := crossing()
	c2.Name = "Crossing"
	ch, err = a.PutCategories(ctx, []Category{c2, {ID: "sacred-site", Name: "Sacred site"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ch.Changed, ",") != "river-crossing" || strings.Join(ch.Removed, ",") != "logging-road" || strings.Join(ch.Added, ",") != "sacred-site" {
		t.Fatalf("changes: %+v", ch)
	}
	// b gets its own forged record back from a, refused there too.
	for _, res := range syncOnce(t, a, b) {
		if res.Err != nil && !(res.CID == r.CID && errors.Is(res.Err, ErrNotAuthorized)) {
			t.Fatalf("record %s: %v", res.CID, res.Err)
		}
	}
	cs, _ = b.Categories(ctx)
	byID := map[string]CategoryState{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	if byID["river-crossing"].Name != "Crossing" || !byID["logging-road"].Deleted || byID["logging-road"].Name != "Logging road" || byID["river-crossing"].Heads != 1 {
		t.Fatalf("after the change: %+v", byID)
	}
	// Without replace, categories not given stay.
	if ch, err = a.PutCategories(ctx, []Category{road()}, false); err != nil || len(ch.Added) != 1 || len(ch.Removed) != 0 {
		t.Fatalf("merge: %+v %v", ch, err)
	}
}

// TestCategoryForkAndBlock: two coordinators edit a category unseen by
// each other; both devices pick the same version; an edit settles it. A
// coordinator's category records signed after its block do not count.
func TestCategoryForkAndBlock(t *testing.T) {
	a := newProject(t, "river")
	b := addDevice(t, a, RoleCoordinator)
	if _, err := a.PutCategories(ctx, []Category{crossing()}, true); err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, a, b))
	ca, cb := crossing(), crossing()
	ca.Name, cb.Name = "Ford (a)", "Ford (b)"
	if _, err := a.PutCategories(ctx, []Category{ca}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutCategories(ctx, []Category{cb}, false); err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, a, b))
	mustOK(t, syncOnce(t, b, a))
	x, _ := a.Category(ctx, "river-crossing")
	y, _ := b.Category(ctx, "river-crossing")
	if x.Heads != 2 || x.Record != y.Record || x.Name != y.Name {
		t.Fatalf("fork: a shows %s %q (%d heads), b shows %s %q", x.Record, x.Name, x.Heads, y.Record, y.Name)
	}
	// Re-putting the fork's winner settles it: a new version links both.
	win := x.Category
	ch, err := a.PutCategories(ctx, []Category{win}, false)
	if err != nil || len(ch.Changed) != 1 {
		t.Fatalf("settle: %+v %v", ch, err)
	}
	if x, _ = a.Category(ctx, "river-crossing"); x.Heads != 1 {
		t.Fatalf("after settling: %d heads", x.Heads)
	}

	// b is blocked; what it signs afterwards does not count on a, even
	// when a receives it before the block's effect is known to b.
	mustOK(t, syncOnce(t, a, b))
	late := crossing()
	late.Name = "After the block"
	if _, err := b.PutCategories(ctx, []Category{late}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetRole(ctx, b.Self().PeerID(), RoleBlocked); err != nil {
		t.Fatal(err)
	}
	res := syncOnce(t, b, a)
	if len(res) != 1 || !errors.Is(res[0].Err, ErrBlocked) {
		t.Fatalf("blocked coordinator's category: %+v", res)
	}
	if x, _ = a.Category(ctx, "river-crossing"); x.Name == "After the block" {
		t.Fatal("a blocked device's category counted")
	}
}

func TestCategoryValidate(t *testing.T) {
	for name, mod := range map[string]func(*Category){
		"no id":          func(c *Category) { c.ID = "" },
		"no name":        func(c *Category) { c.Name = "" },
		"big icon":       func(c *Category) { c.Icon = make([]byte, MaxIconSize+1) },
		"icon type":      func(c *Category) { c.IconType = "image/gif" },
		"icon no type":   func(c *Category) { c.IconType = "" },
		"color":          func(c *Category) { c.Color = "blue" },
		"upper color":    func(c *Category) { c.Color = "#1E90FF" },
		"applies":        func(c *Category) { c.Applies = []string{"area"} },
		"applies order":  func(c *Category) { c.Applies = []string{AppliesTrack, AppliesObservation} },
		"dup key":        func(c *Category) { c.Fields = append(c.Fields, c.Fields[0]) },
		"field type":     func(c *Category) { c.Fields[0].Type = "checkbox" },
		"no label":       func(c *Category) { c.Fields[0].Label = "" },
		"select no opts": func(c *Category) { c.Fields[2].Options = nil },
		"dup option":     func(c *Category) { c.Fields[2].Options = append(c.Fields[2].Options, Option{"ford", "Ford again"}) },
		"opts on text":   func(c *Category) { c.Fields[1].Options = []Option{{"a", "A"}} },
		"empty tag":      func(c *Category) { c.Tags = []string{""} },
	} {
		c := crossing()
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := crossing()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestObservationFields(t *testing.T) {
	a := newProject(t, "river")
	if _, err := a.PutCategories(ctx, []Category{crossing(), road()}, true); err != nil {
		t.Fatal(err)
	}
	o := Observation{Category: "river-crossing", Fields: map[string]FieldValue{
		"depth": NumberValue(1.2), "who": TextValue("Ana and Zé"), "kind": TextValue("canoe"),
		"uses": ListValue([]string{"fishing", "school"}), "seen": TextValue("2026-05-17")}}
	r, err := a.AddObservation(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Observation(ctx, r.Observation.ID)
	if err != nil || st.Category != "river-crossing" || !st.Fields["uses"].Equal(ListValue([]string{"fishing", "school"})) || st.Fields["depth"].Number != 1.2 {
		t.Fatalf("stored: %+v %v", st, err)
	}
	j := st.JSON()
	if j.Category.ID != "river-crossing" || j.Fields["depth"] != 1.2 || j.Fields["kind"] != "canoe" {
		t.Fatalf("json: %+v", j)
	}

	before, _ := a.RecordCount(ctx)
	for name, c := range map[string]struct {
		o    Observation
		want error
	}{
		"unknown category": {Observation{Category: "nosuch"}, ErrUnknownCategory},
		"track category":   {Observation{Category: "logging-road"}, ErrCategoryKind},
		"unknown field":    {Observation{Category: "river-crossing", Fields: map[string]FieldValue{"colour": TextValue("red")}}, ErrUnknownField},
		"text as number":   {Observation{Category: "river-crossing", Fields: map[string]FieldValue{"depth": TextValue("deep")}}, ErrFieldValue},
		"option":           {Observation{Category: "river-crossing", Fields: map[string]FieldValue{"kind": TextValue("swim")}}, ErrFieldValue},
		"many option":      {Observation{Category: "river-crossing", Fields: map[string]FieldValue{"uses": ListValue([]string{"fishing", "party"})}}, ErrFieldValue},
		"date":             {Observation{Category: "river-crossing", Fields: map[string]FieldValue{"seen": TextValue("17/05/2026")}}, ErrFieldValue},
		"fields, no cat":   {Observation{Fields: map[string]FieldValue{"depth": NumberValue(1)}}, ErrMalformed},
		"nan":              {Observation{Category: "river-crossing", Fields: map[string]FieldValue{"depth": NumberValue(math.NaN())}}, ErrMalformed},
	} {
		_, err := a.AddObservation(ctx, c.o)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if _, err := a.AddObservations(ctx, []Observation{c.o}); !errors.Is(err, c.want) {
			t.Errorf("%s (batch): %v, want %v", name, err, c.want)
		}
	}
	var fe *FieldError
	_, err = a.AddObservation(ctx, Observation{Category: "river-crossing", Fields: map[string]FieldValue{"kind": TextValue("swim")}})
	if !errors.As(err, &fe) || fe.Key != "kind" || !strings.Contains(err.Error(), `field "kind" (Crossing type): "swim" is not one of its options: ford (Ford), bridge (Bridge), canoe (Canoe)`) {
		t.Fatalf("words: %v", err)
	}
	if after, _ := a.RecordCount(ctx); after != before {
		t.Fatalf("refused observations wrote %d records", after-before)
	}

	// The category changes: "who" is gone. The observation can still be
	// edited (its old value is not checked again), but not given a new
	// value for a field the category no longer has.
	c2 := crossing()
	c2.Fields = slices.DeleteFunc(c2.Fields, func(f CategoryField) bool { return f.Key == "who" })
	if _, err := a.PutCategories(ctx, []Category{c2, road()}, true); err != nil {
		t.Fatal(err)
	}
	edit := st.Observation
	edit.Notes = "water high"
	if _, err := a.UpdateObservation(ctx, edit); err != nil {
		t.Fatalf("edit under a newer category set: %v", err)
	}
	edit.Fields = map[string]FieldValue{"who": TextValue("someone else")}
	if _, err := a.UpdateObservation(ctx, edit); !errors.Is(err, ErrUnknownField) {
		t.Fatalf("new value for a removed field: %v", err)
	}
	// The category is removed: the observation keeps it, and can be
	// edited; a new observation of it is refused.
	if _, err := a.PutCategories(ctx, []Category{road()}, true); err != nil {
		t.Fatal(err)
	}
	edit = st.Observation
	edit.Notes = "still here"
	if _, err := a.UpdateObservation(ctx, edit); err != nil {
		t.Fatalf("edit of an observation of a removed category: %v", err)
	}
	if _, err := a.AddObservation(ctx, Observation{Category: "river-crossing"}); !errors.Is(err, ErrUnknownCategory) || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("new observation of a removed category: %v", err)
	}
	if _, err := a.DeleteObservation(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
}

// TestFieldsTolerated: values that do not fit this device's categories
// (a device with another category set signed them) are applied, never
// refused.
func TestFieldsTolerated(t *testing.T) {
	a := newProject(t, "river")
	b := addDevice(t, a, RoleMember)
	mustOK(t, syncOnce(t, a, b))
	h := b.vec[b.Self().PeerID()]
	r, err := newRecord(b.Self(), b.ID(), h.seq+1, h.cid, &Observation{ID: "x1", Created: t0, Updated: t0,
		Category: "from-another-set", Fields: map[string]FieldValue{"anything": TextValue("goes")}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Apply(ctx, [][]byte{r.Block})
	if err != nil || res[0].Err != nil {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if st, err := a.Observation(ctx, "x1"); err != nil || st.Fields["anything"].Text != "goes" {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestParseValue(t *testing.T) {
	c := crossing()
	for _, tc := range []struct {
		key, in string
		want    FieldValue
		err     string
	}{
		{"depth", " 1.25 ", NumberValue(1.25), ""},
		{"depth", "-3", NumberValue(-3), ""},
		{"depth", "1,5", FieldValue{}, "write decimals with a dot: 1.5"},
		{"depth", "deep", FieldValue{}, `"deep" is not a number`},
		{"depth", "NaN", FieldValue{}, "not a number"},
		{"depth", "", FieldValue{}, "no value given"},
		{"kind", "canoe", TextValue("canoe"), ""},
		{"kind", "BRIDGE", TextValue("bridge"), ""},
		{"kind", "swim", FieldValue{}, "not one of its options"},
		{"uses", "school; fishing", ListValue([]string{"fishing", "school"}), ""},
		{"uses", "Market,fishing,fishing", ListValue([]string{"fishing", "market"}), ""},
		{"uses", "fishing;party", FieldValue{}, `"party" is not one of its options`},
		{"seen", "2026-05-17", TextValue("2026-05-17"), ""},
		{"seen", "2026-02-30", FieldValue{}, "not a date (write it as 2026-05-17)"},
		{"who", "Ana", TextValue("Ana"), ""},
		{"who", strings.Repeat("x", 5000), FieldValue{}, "over 4096 bytes"},
	} {
		f, _ := c.FieldByKey(tc.key)
		got, err := f.ParseValue(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrFieldValue)):
			t.Errorf("%s %q: %v, want %q", tc.key, tc.in, err, tc.err)
		case tc.err == "" && (err != nil || !got.Equal(tc.want)):
			t.Errorf("%s %q: %+v %v, want %+v", tc.key, tc.in, got, err, tc.want)
		case tc.err == "":
			if err := f.CheckValue(got); err != nil {
				t.Errorf("%s %q: parsed value refused: %v", tc.key, tc.in, err)
			}
		}
	}
	vals, err := c.ParseFields(map[string]string{"depth": "2", "who": ""})
	if err != nil || len(vals) != 1 || vals["depth"].Number != 2 {
		t.Fatalf("ParseFields: %v %v", vals, err)
	}
	if _, err := c.ParseFields(map[string]string{"colour": "red"}); !errors.Is(err, ErrUnknownField) || !strings.Contains(err.Error(), `category "river-crossing" has no field "colour"`) {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestFieldRecordsCanonical: a category record and an observation with
// every kind of value decode to what was signed and re-encode exactly;
// the same content in another encoding is refused.
func TestFieldRecordsCanonical(t *testing.T) {
	for _, r := range fieldRecords(t) {
		got, err := DecodeRecord(r.Block)
		if err != nil {
			t.Fatalf("%s: %v", r.Kind, err)
		}
		if got.CID != r.CID {
			t.Fatalf("%s: CID", r.Kind)
		}
		w, err := encodeBody(got)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := encodeBody(r)
		if !bytes.Equal(w, want) {
			t.Fatalf("%s: body re-encodes differently", r.Kind)
		}
	}
	// A number written as an integer, a half float, or a list of numbers
	// is not a field value.
	for name, v := range map[string][]byte{
		"int":        {0x01},
		"half float": {0xf9, 0x3c, 0x00},
		"list of 1":  {0x81, 0x01},
		"map":        {0xa0},
		"bool":       {0xf5},
	} {
		var fv FieldValue
		if err := fv.UnmarshalCBOR(v); err == nil {
			t.Errorf("%s decoded as %+v", name, fv)
		}
	}
}

// fieldRecords returns a category record, an observation with field
// values and a track observation, for tests and fuzz seeds.
func fieldRecords(t testing.TB) []*Record {
	creator := fixedIdentity(1)
	g, err := newRecord(creator, cid.Undef, 1, cid.Undef, &Genesis{Name: "Rio Negro survey", Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	c := crossing()
	c.Time = t0
	cr, err := newRecord(creator, g.CID, 2, g.CID, &c)
	if err != nil {
		t.Fatal(err)
	}
	o, err := newRecord(creator, g.CID, 3, cr.CID, &Observation{ID: "obs1", Created: t0, Updated: t0, Category: "river-crossing",
		Fields: map[string]FieldValue{"depth": NumberValue(1.5), "kind": TextValue("ford"), "uses": ListValue([]string{"fishing", "market"}), "seen": TextValue("2026-05-01")}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newRecord(creator, g.CID, 4, o.CID, &Observation{ID: "trk1", Created: t0, Updated: t0, Attachments: []Attachment{trackAttachment()}})
	if err != nil {
		t.Fatal(err)
	}
	return []*Record{cr, o, tr}
}

func trackAttachment() Attachment {
	pts := &track.Track{Segments: [][]track.Point{{{Lat: -0.12, Lon: -67.08, Time: t0}, {Lat: -0.121, Lon: -67.081, Time: t0.Add(time.Minute), Ele: 60, HasEle: true}}}}
	return Attachment{Kind: AttachTrack, MediaType: "application/gpx+xml", Name: "walk.gpx",
		Original: &Variant{CID: fakeCID("walk.gpx"), Size: 1234}, Points: &Variant{CID: fakeCID("walk.points"), Size: 40},
		Track: TrackInfoOf("Morning walk", pts)}
}

func TestTrackObservation(t *testing.T) {
	a := newProject(t, "river")
	at := trackAttachment()
	r, err := a.AddObservation(ctx, Observation{Created: t0, Attachments: []Attachment{at, photo("IMG_1.JPG")}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := a.Observation(ctx, r.Observation.ID)
	got := st.Attachments[0]
	if got.Track.Name != "Morning walk" || got.Track.Points != 2 || !got.Track.End.Equal(t0.Add(time.Minute)) || got.Track.Length < 100 || got.Points.CID != at.Points.CID {
		t.Fatalf("track: %+v", got.Track)
	}
	// The points travel with the thumbnails, for a field device too; the
	// GPX file with the other attachments.
	for _, f := range []Filter{Archive, Field, {Mode: FilterCustom, Variants: []VariantName{VariantThumbnail}}} {
		ws, err := a.WantedBlobs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ws, func(w Want) bool { return w.CID == at.Points.CID })
		if i < 0 || ws[i].Class != blob.ClassThumbnail || ws[i].MediaType != track.MediaType {
			t.Fatalf("%v: points %+v", f, ws)
		}
		if f.Mode == FilterArchive && !slices.ContainsFunc(ws, func(w Want) bool { return w.CID == at.Original.CID && w.Class == blob.ClassAttachment }) {
			t.Fatalf("archive: no GPX original in %+v", ws)
		}
		if !slices.Contains(f.Classes(), blob.ClassThumbnail) {
			t.Fatalf("%v: classes %v", f, f.Classes())
		}
	}
	if cs := (Filter{Mode: FilterCustom, Kinds: []AttachmentKind{AttachTrack}}).Classes(); !slices.Equal(cs, []blob.Class{blob.ClassThumbnail, blob.ClassAttachment}) {
		t.Fatalf("track-only filter classes: %v", cs)
	}
	for name, mod := range map[string]func(*Attachment){
		"no points":       func(a *Attachment) { a.Points = nil },
		"no info":         func(a *Attachment) { a.Track = nil },
		"thumbnail":       func(a *Attachment) { a.Thumbnail = a.Points },
		"points on photo": func(a *Attachment) { a.Kind = AttachPhoto },
		"bounds":          func(a *Attachment) { a.Track.Bounds[1] = 91 },
		"segments":        func(a *Attachment) { a.Track.Segments = 3 },
	} {
		bad := trackAttachment()
		mod(&bad)
		if _, err := a.AddObservation(ctx, Observation{Attachments: []Attachment{bad}}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCategoriesFirst: a peer gets a log's category records before any
// record of a later time, so categories arrive before the observations
// that use them.
func TestCategoriesFirst(t *testing.T) {
	a := newProject(t, "river")
	b := addDevice(t, a, RoleMember)
	mustOK(t, syncOnce(t, a, b))
	for range 3 {
		if _, err := b.AddObservation(ctx, Observation{}); err != nil {
			t.Fatal(err)
		}
	}
	a.now = func() time.Time { return time.Now().Add(time.Hour) } // a's categories are the newest records
	if _, err := a.PutCategories(ctx, []Category{crossing()}, true); err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, b, a))
	c := newIdentity(t)
	if _, err := a.SetRole(ctx, c.PeerID(), RoleMember); err != nil {
		t.Fatal(err)
	}
	miss, err := a.Missing(ctx, VersionVector{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	firstObs, cat := -1, -1
	for i, m := range miss {
		r, _ := DecodeRecord(m.Block)
		if r.Kind == KindObservation && firstObs < 0 {
			firstObs = i
		}
		if r.Kind == KindCategory {
			cat = i
		}
	}
	if cat < 0 || firstObs < 0 || cat > firstObs {
		t.Fatalf("category at %d, first observation at %d", cat, firstObs)
	}
}

// TestRecordSizeCap: a record over MaxRecordSize is never signed.
func TestRecordSizeCap(t *testing.T) {
	a := newProject(t, "river")
	big := Category{ID: "big", Name: "Big", Icon: make([]byte, MaxIconSize), IconType: IconPNG}
	for i := range maxFields {
		f := CategoryField{Key: strings.Repeat("k", 10) + string(rune('A'+i%26)) + string(rune('a'+i/26)), Type: FieldSelectOne, Label: "L"}
		for j := range 40 {
			f.Options = append(f.Options, Option{Value: strings.Repeat("v", 20) + string(rune('a'+j%26)) + string(rune('a'+j/26)), Label: strings.Repeat("label ", 5)})
		}
		big.Fields = append(big.Fields, f)
	}
	if _, err := a.PutCategories(ctx, []Category{big}, true); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "over the 65536 limit") {
		t.Fatalf("a category over 64 KiB: %v", err)
	}
	if n, _ := a.RecordCount(ctx); n != 1 {
		t.Fatalf("%d records", n)
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"1.5", "1,5", "canoe", "fishing;school", "2026-05-17", "", "BRIDGE", "Market,fishing"} {
		f.Add(uint8(0), s)
	}
	c := crossing()
	f.Fuzz(func(t *testing.T, which uint8, s string) {
		fd := &c.Fields[int(which)%len(c.Fields)]
		v, err := fd.ParseValue(s)
		if err != nil {
			if !errors.Is(err, ErrFieldValue) {
				t.Fatalf("%q: error %v is not ErrFieldValue", s, err)
			}
			return
		}
		if err := fd.CheckValue(v); err != nil {
			t.Fatalf("%q parsed to %+v, which CheckValue refuses: %v", s, v, err)
		}
		o := &Observation{ID: "x", Category: c.ID, Fields: map[string]FieldValue{fd.Key: v}}
		if err := validateFieldValues(o); err != nil {
			t.Fatalf("%q parsed to %+v, which a record refuses: %v", s, v, err)
		}
		b, err := v.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		var back FieldValue
		if err := back.UnmarshalCBOR(b); err != nil || !back.Equal(v) {
			t.Fatalf("%+v round trips to %+v, %v", v, back, err)
		}
	})
}
