package main

import (
	"fmt"
	"strings"

	"github.com/skip2/go-qrcode"
)

// qrText renders s as a QR code for a terminal (error correction level
// L, a two-module quiet zone), two modules per character cell with the
// half-block characters ▀ ▄ █: dark modules are drawn as blocks, for dark
// text on a light background. Invite codes are printed with it; the code's
// format is package project's, its presentation the command's.
func qrText(s string) (string, error) {
	q, err := qrcode.New(s, qrcode.Low)
	if err != nil {
		return "", fmt.Errorf("QR code: %w", err)
	}
	q.DisableBorder = true
	bm := q.Bitmap()
	const border = 2
	size := len(bm) + 2*border
	at := func(y, x int) bool {
		y, x = y-border, x-border
		return y >= 0 && x >= 0 && y < len(bm) && x < len(bm) && bm[y][x]
	}
	var sb strings.Builder
	for y := 0; y < size; y += 2 {
		for x := 0; x < size; x++ {
			top, bot := at(y, x), y+1 < size && at(y+1, x)
			switch {
			case top && bot:
				sb.WriteString("█")
			case top:
				sb.WriteString("▀")
			case bot:
				sb.WriteString("▄")
			default:
				sb.WriteByte(' ')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String(), nil
}
