package blob

import "testing"

// TestClassNumbers pins the classes' numbers: they travel on the wire
// (exchange/wire) and in bundle state files (archive), so changing one
// breaks every device already in the field.
func TestClassNumbers(t *testing.T) {
	for c, want := range map[Class]int{ClassSkeleton: 0, ClassThumbnail: 1, ClassPreview: 2, ClassOriginal: 3, ClassAttachment: 4, NumClasses: 5} {
		if int(c) != want {
			t.Errorf("%s = %d, want %d", c, int(c), want)
		}
	}
	for c := ClassSkeleton; c < NumClasses; c++ {
		got, err := ParseClass(c.String())
		if err != nil || got != c {
			t.Errorf("ParseClass(%q) = %v, %v", c, got, err)
		}
	}
	if _, err := ParseClass("photo"); err == nil {
		t.Error("ParseClass accepted an unknown name")
	}
	if s := Class(9).String(); s != "Class(9)" {
		t.Errorf("Class(9) = %q", s)
	}
}
