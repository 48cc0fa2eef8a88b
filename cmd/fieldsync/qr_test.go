package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQRText(t *testing.T) {
	// An invite code's text form: base32 groups of five (the alphanumeric
	// mode's characters).
	code := strings.Repeat("ABCDE-12345-", 18) + "XYZ01"
	q, err := qrText(code)
	if err != nil || !strings.Contains(q, "▀") || !strings.Contains(q, "█") {
		t.Fatalf("QR: %v\n%s", err, q)
	}
	// A square of modules plus a two-module border, two rows per line:
	// every line as wide as the square is tall, the border blank.
	lines := strings.Split(strings.TrimSuffix(q, "\n"), "\n")
	w := utf8.RuneCountInString(lines[0])
	if len(lines) != (w+1)/2 {
		t.Fatalf("%d lines of %d cells", len(lines), w)
	}
	for i, l := range lines {
		if utf8.RuneCountInString(l) != w {
			t.Fatalf("line %d: %d cells, want %d", i, utf8.RuneCountInString(l), w)
		}
		if !strings.HasPrefix(l, "  ") || !strings.HasSuffix(l, "  ") {
			t.Fatalf("line %d has no border: %q", i, l)
		}
	}
	if strings.TrimSpace(lines[0]) != "" {
		t.Fatalf("no top border: %q", lines[0])
	}
	if _, err := qrText(""); err == nil {
		t.Fatal("an empty text was rendered")
	}
}
