package thumbs

// orient returns p turned upright for an EXIF orientation (1..8): the
// transform that makes a viewer show the photo as the camera's user saw it.
//
//	1 as is          2 mirrored left-right   3 turned 180°        4 mirrored top-bottom
//	5 transposed     6 turned 90° clockwise  7 transversed        8 turned 90° counter-clockwise
func orient(p plane, o int) plane {
	if o <= 1 || o > 8 {
		return p
	}
	w, h, s := p.w, p.h, p.stride
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	// Output (x, y) reads source index first + x·dx + y·dy.
	var first, dx, dy int
	switch o {
	case 2: // source (w-1-x, y)
		first, dx, dy = w-1, -1, s
	case 3: // source (w-1-x, h-1-y)
		first, dx, dy = (h-1)*s+w-1, -1, -s
	case 4: // source (x, h-1-y)
		first, dx, dy = (h-1)*s, 1, -s
	case 5: // source (y, x)
		first, dx, dy = 0, s, 1
	case 6: // source (y, h-1-x)
		first, dx, dy = (h-1)*s, -s, 1
	case 7: // source (w-1-y, h-1-x)
		first, dx, dy = (h-1)*s+w-1, -s, -1
	case 8: // source (w-1-y, x)
		first, dx, dy = w-1, s, -1
	}
	out := newPlane(dw, dh)
	for y := 0; y < dh; y++ {
		row := out.pix[y*out.stride:][:dw]
		i := first + y*dy
		for x := range row {
			row[x] = p.pix[i]
			i += dx
		}
	}
	return out
}
