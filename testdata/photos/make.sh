#!/bin/sh
# Makes the thumbs fixtures in this directory. The results are committed, so
# tests need none of these tools; rerun only to change the fixtures.
#
# Needs: go, ImageMagick's convert (Debian: imagemagick), cwebp (webp),
# exiftool (libimage-exiftool-perl).
#
#   sh testdata/photos/make.sh
set -eu
cd "$(dirname "$0")"
CONVERT=${CONVERT:-/usr/bin/convert}

go run gen/main.go sources .

# The 8 EXIF orientations: pixels stored as a camera would, tag added.
for o in 1 2 3 4 5 6 7 8; do
	exiftool -q -overwrite_original -n -Orientation=$o orient-$o.jpg
done

# Orientation 6 in a PNG (eXIf chunk) and a WebP (EXIF chunk).
cp src-orient-6.png orient-6.png
cwebp -quiet -lossless src-orient-6.png -o orient-6.webp
exiftool -q -q -overwrite_original -n -Orientation=6 orient-6.png orient-6.webp

# GPS, capture time and other metadata that must not reach a variant.
exiftool -q -overwrite_original \
	-DateTimeOriginal='2024:05:17 09:41:23' -OffsetTimeOriginal='-03:00' \
	-GPSLatitude=3.4653 -GPSLatitudeRef=S -GPSLongitude=62.2159 -GPSLongitudeRef=W \
	-XMP-dc:Description='fieldsync fixture: secret spring location' \
	-Comment='fieldsync fixture comment' -Artist='Field Team' \
	gps.jpg

# JPEG kinds the Go encoder does not write.
"$CONVERT" src-photo.png -quality 85 -interlace JPEG progressive.jpg
"$CONVERT" src-photo.png -quality 85 -colorspace CMYK cmyk.jpg

# WebP: lossy, and lossless with alpha.
cwebp -quiet -q 80 src-photo.png -o lossy.webp
cwebp -quiet -lossless -z 9 src-alpha.png -o alpha.webp

rm -f src-*.png
go run gen/main.go golden .
