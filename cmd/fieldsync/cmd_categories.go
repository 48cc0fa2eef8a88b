package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

var categoriesCmd = &command{
	name:    "categories",
	summary: "list the project's categories, or import them from a category file",
	usage: `Usage: fieldsync categories [--data DIR] [--all] [--json] [ID]
       fieldsync categories import [--data DIR] [--lang LANG] [--merge] [--json] FILE

Without ID, lists the project's categories (what observers record: a river
crossing, a logging road, a sacred site), in the order observers see them,
with what each is for (observations, tracks or both) and its fields. With
ID, shows that category: its color, icon, default tags, and each field's
key, type, label and options: the keys and values 'fieldsync add
--category ID --field KEY=VALUE' takes.

'categories import FILE' makes the categories of FILE the project's:
  - a CoMapeo category file (.comapeocat), or
  - a JSON file of presets and fields in the shape Mapeo's presets use
    (presets.json of a Mapeo settings folder; its icons are looked for in
    an icons/ folder beside it).
The categories are signed by this device and sync to every device of the
project, before the observations that use them. Only the creator and
coordinators import. Categories of the project that FILE does not have are
removed (observations of them keep them), unless --merge. Importing the
same file again changes nothing. What the file holds that fieldsync does
not keep (an icon over 8 KiB, an option without a value, a field type it
does not know) is listed as a warning; docs/fielddata.md has the mapping.

Options:
` + dataHelp + `  --all         list removed categories too
  --json        one JSON object per category; for import, the report
  --lang LANG   import a .comapeocat's translation (pt, es, ...)
  --merge       keep the categories FILE does not have

Examples:
  fieldsync categories import rio-negro.comapeocat
  fieldsync categories import --lang pt rio-negro.comapeocat
  fieldsync categories
  fieldsync categories river-crossing

Exit codes: 0 done, 1 failure (not a category file, a file that breaks its
format, a device that may not import, no such category; nothing is
written), 2 bad usage.
`,
}

func init() {
	categoriesCmd.run = runCategories
	register(categoriesCmd)
}

func runCategories(ctx context.Context, e *env, args []string) error {
	fs := newFlags(categoriesCmd, e)
	data := dataFlag(fs)
	all := fs.Bool("all", false, "")
	asJSON := fs.Bool("json", false, "")
	lang := fs.String("lang", "", "")
	merge := fs.Bool("merge", false, "")
	rest, err := parseFlags(categoriesCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 && rest[0] == "import" {
		if *all {
			return usagef("--all goes with the list, not with import")
		}
		return runCategoriesImport(ctx, e, *data, rest[1:], node.CategoryImportOptions{Lang: *lang, Merge: *merge}, *asJSON)
	}
	if *lang != "" || *merge {
		return usagef("--lang and --merge go with 'categories import FILE'")
	}
	if len(rest) > 1 {
		return usagef("want at most one category ID")
	}
	n, err := openNode(ctx, *data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if len(rest) == 1 {
		c, err := n.Category(ctx, rest[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, c.JSON())
		}
		printCategory(ctx, e.stdout, n, c)
		return nil
	}
	cs, err := n.Categories(ctx, *all)
	if err != nil {
		return err
	}
	if *asJSON {
		for i := range cs {
			if err := writeJSON(e.stdout, cs[i].JSON()); err != nil {
				return err
			}
		}
		return nil
	}
	if len(cs) == 0 {
		fmt.Fprintln(e.stderr, "no categories yet: a coordinator imports them with 'fieldsync categories import FILE' (a .comapeocat or a presets JSON file)")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tFOR\tFIELDS")
	sets := map[string]bool{}
	for _, c := range cs {
		name := c.Name
		if c.Deleted {
			name += " (removed)"
		}
		var keys []string
		for _, f := range c.Fields {
			keys = append(keys, f.Key)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, name, appliesWords(&c.Category), strings.Join(keys, ", "))
		if c.Set != "" {
			sets[c.Set] = true
		}
	}
	tw.Flush()
	var from []string
	for s := range sets {
		from = append(from, fmt.Sprintf("%q", s))
	}
	slices.Sort(from)
	if len(from) > 0 {
		fmt.Fprintf(e.stdout, "(from %s; 'fieldsync categories ID' shows a category's fields and options)\n", strings.Join(from, ", "))
	}
	return nil
}

func appliesWords(c *project.Category) string {
	switch {
	case c.AppliesTo(project.AppliesObservation) && c.AppliesTo(project.AppliesTrack):
		return "both"
	case c.AppliesTo(project.AppliesTrack):
		return "tracks"
	}
	return "observations"
}

func typeWords(t project.FieldType) string { return strings.ReplaceAll(string(t), "_", " ") }

// printCategory shows one category for a person.
func printCategory(ctx context.Context, w io.Writer, n *node.Node, c *project.CategoryState) {
	fmt.Fprintf(w, "%s  %s", c.ID, c.Name)
	if c.Deleted {
		fmt.Fprint(w, "  (removed from the project's categories)")
	}
	fmt.Fprintln(w)
	var looks []string
	if c.Color != "" {
		looks = append(looks, "color "+c.Color)
	}
	if len(c.Icon) > 0 {
		kind := "SVG"
		if c.IconType == project.IconPNG {
			kind = "PNG"
		}
		looks = append(looks, fmt.Sprintf("icon %s (%s)", kind, humanBytes(int64(len(c.Icon)))))
	}
	looks = append(looks, "for "+appliesWords(&c.Category))
	fmt.Fprintf(w, "  %s\n", strings.Join(looks, ", "))
	if len(c.Tags) > 0 {
		fmt.Fprintf(w, "  tags    %s (given to its observations)\n", strings.Join(c.Tags, ", "))
	}
	from := ""
	if c.Set != "" {
		from = fmt.Sprintf("%q, ", c.Set)
	}
	fmt.Fprintf(w, "  from    %ssigned by %s on %s\n", from, n.PeerName(ctx, c.Author), c.Time.Local().Format("2006-01-02 15:04"))
	if c.Heads > 1 {
		fmt.Fprintf(w, "  fork    %d coordinators changed it at once; the latest is shown; importing again settles it\n", c.Heads)
	}
	if len(c.Fields) == 0 {
		fmt.Fprintln(w, "  no fields")
		return
	}
	fmt.Fprintln(w, "  fields (fieldsync add --category "+c.ID+" --field KEY=VALUE):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range c.Fields {
		what := f.Label
		switch f.Type {
		case project.FieldSelectOne, project.FieldSelectMany:
			var opts []string
			for _, o := range f.Options {
				if o.Label != o.Value {
					opts = append(opts, fmt.Sprintf("%s (%s)", o.Value, o.Label))
				} else {
					opts = append(opts, o.Value)
				}
			}
			what += ": " + strings.Join(opts, ", ")
			if f.Type == project.FieldSelectMany {
				what += "  (several: separate with ;)"
			}
		case project.FieldDate:
			what += "  (as 2026-05-17)"
		}
		if f.Help != "" {
			what += "  — " + f.Help
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\n", f.Key, typeWords(f.Type), what)
	}
	tw.Flush()
}

func runCategoriesImport(ctx context.Context, e *env, data string, files []string, opts node.CategoryImportOptions, asJSON bool) error {
	if len(files) != 1 {
		return usagef("want exactly one category FILE (a .comapeocat, or a presets JSON file)")
	}
	n, err := openNode(ctx, data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	rep, err := n.ImportCategories(ctx, files[0], opts)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, rep)
	}
	kind := "CoMapeo category file"
	if rep.Format == "presets" {
		kind = "presets file"
	}
	var what []string
	for _, p := range []struct {
		n    int
		word string
	}{{len(rep.Added), "added"}, {len(rep.Changed), "changed"}, {len(rep.Removed), "removed"}, {len(rep.Same), "unchanged"}} {
		if p.n > 0 {
			what = append(what, fmt.Sprintf("%d %s", p.n, p.word))
		}
	}
	lang2 := ""
	if rep.Lang != "" {
		lang2 = ", in " + rep.Lang
	}
	fmt.Fprintf(e.stdout, "categories from %s (%s %q%s): %s\n", filepath.Base(rep.Path), kind, rep.Set, lang2, strings.Join(what, ", "))
	for _, w := range rep.Warnings {
		fmt.Fprintf(e.stdout, "  note: %s\n", w)
	}
	if rep.Records > 0 {
		fmt.Fprintln(e.stdout, "they reach the project's devices at their next sync; list them with 'fieldsync categories'")
	} else {
		fmt.Fprintln(e.stdout, "nothing changed: the project already has these categories")
	}
	return nil
}

// fieldDataWords says what went wrong with a category, a field value, a
// category file or a GPX file, and what to do next; nil for other errors.
func fieldDataWords(err error) error {
	var fe *node.FieldError
	switch {
	case errors.As(err, &fe):
		if fe.Category != "" {
			return fmt.Errorf("%v (the category's fields: 'fieldsync categories %s')", err, fe.Category)
		}
		return err
	case errors.Is(err, node.ErrUnknownCategory):
		return fmt.Errorf("%s (list them with 'fieldsync categories')", trimPkg(err))
	case errors.Is(err, node.ErrCategoryKind):
		return fmt.Errorf("%s (list the categories with 'fieldsync categories': FOR says what each is for)", trimPkg(err))
	case errors.Is(err, node.ErrNotCategoryFile):
		return fmt.Errorf("%v: give a CoMapeo category file (.comapeocat) or a JSON file of Mapeo presets", err)
	case errors.Is(err, node.ErrInvalidCategoryFile):
		return fmt.Errorf("%v: nothing was imported; fix the file (or ask whoever made it) and import it again", err)
	case errors.Is(err, node.ErrNotGPX), errors.Is(err, node.ErrNoTrackPoints), errors.Is(err, node.ErrGPXTooLarge), errors.Is(err, node.ErrGPXValue):
		return fmt.Errorf("%v: nothing was stored", trimPkg(err))
	}
	return nil
}
