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
	w, h := p.w, p.h
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	out := newPlane(dw, dh)
	for y := 0; y < dh; y++ {
		row := out.pix[y*out.stride:][:dw]
		for x := range row {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			row[x] = p.pix[sy*p.stride+sx]
		}
	}
	return out
}
