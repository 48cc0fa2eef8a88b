package blob

import "fmt"

// Class is a blob's place in the transfer order (DESIGN.md decision 9):
// lower classes are fetched, served and exported strictly first. It is the
// one definition of the priority classes: the project derives a wanted
// blob's class from its record, the exchange schedules and reports by it,
// and the archive orders exports by it.
//
// The numbers travel on the wire (exchange/wire's Class field) and must not
// change.
type Class int

// Classes in transfer order.
const (
	// ClassSkeleton is the dag-pb nodes of a blob larger than one leaf:
	// the exchange fetches a blob's skeleton before any of its leaves.
	ClassSkeleton   Class = iota
	ClassThumbnail        // a photo's thumbnail
	ClassPreview          // a photo's preview
	ClassOriginal         // a photo's original
	ClassAttachment       // the original of any other attachment: audio, video, documents
	NumClasses            // the number of classes
)

var classNames = [NumClasses]string{"skeleton", "thumbnail", "preview", "original", "attachment"}

// String returns the class's name: "skeleton", "thumbnail", "preview",
// "original" or "attachment".
func (c Class) String() string {
	if c >= 0 && c < NumClasses {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// ParseClass is the inverse of String.
func ParseClass(s string) (Class, error) {
	for c, n := range classNames {
		if n == s {
			return Class(c), nil
		}
	}
	return 0, fmt.Errorf("blob: unknown class %q: want skeleton, thumbnail, preview, original or attachment", s)
}

// Valid reports whether c is one of the classes.
func (c Class) Valid() bool { return c >= 0 && c < NumClasses }
