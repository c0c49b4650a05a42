// Package imagefmt tells what an image really is from its bytes: the format (PNG, JPEG or WebP,
// the formats the image routes take and the image providers answer with, and GIF, which chat
// takes inline) and its dimensions, read from the header without decoding pixels. The api
// (checking uploads and chat images) and the workers (describing results) use it; it imports
// only the standard library.
package imagefmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
)

// Info describes an image.
type Info struct {
	MIME   string // image/png, image/jpeg, image/webp or image/gif
	Ext    string // png, jpg, webp or gif
	Width  int
	Height int
}

// Errors of Detect.
var (
	// ErrUnknown: the bytes do not start like a PNG, JPEG, WebP or GIF file.
	ErrUnknown = errors.New("imagefmt: not a PNG, JPEG, WebP or GIF image")
	// ErrCorrupt: they start like one, but the header does not hold up.
	ErrCorrupt = errors.New("imagefmt: damaged image header")
)

// MaxDimension bounds width and height: larger values are a hostile or broken header.
const MaxDimension = 1 << 14

// Detect reads the format and dimensions from the start of an image. head needs to hold the
// header only (the first few KB of most files; a JPEG's size comes after its metadata segments).
func Detect(head []byte) (Info, error) {
	var info Info
	var err error
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		info = Info{MIME: "image/png", Ext: "png"}
		err = stdConfig(&info, png.DecodeConfig, head)
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		info = Info{MIME: "image/jpeg", Ext: "jpg"}
		err = stdConfig(&info, jpeg.DecodeConfig, head)
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		info = Info{MIME: "image/gif", Ext: "gif"}
		err = stdConfig(&info, gif.DecodeConfig, head)
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		info = Info{MIME: "image/webp", Ext: "webp"}
		info.Width, info.Height, err = webpSize(head)
	default:
		return Info{}, ErrUnknown
	}
	if err != nil {
		return Info{}, err
	}
	if info.Width < 1 || info.Height < 1 || info.Width > MaxDimension || info.Height > MaxDimension {
		return Info{}, fmt.Errorf("%w: %s of %dx%d", ErrCorrupt, info.MIME, info.Width, info.Height)
	}
	return info, nil
}

func stdConfig(info *Info, decode func(io.Reader) (image.Config, error), head []byte) error {
	cfg, err := decode(bytes.NewReader(head))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, info.MIME, err)
	}
	info.Width, info.Height = cfg.Width, cfg.Height
	return nil
}

// webpSize reads the canvas size of a WebP file (RFC 9649): from the VP8X chunk of an extended
// file, or from the frame header of a simple lossy (VP8) or lossless (VP8L) one.
func webpSize(b []byte) (w, h int, err error) {
	if len(b) < 20 {
		return 0, 0, fmt.Errorf("%w: webp: short header", ErrCorrupt)
	}
	fourCC, size := string(b[12:16]), binary.LittleEndian.Uint32(b[16:20])
	p := b[20:]
	if uint32(len(p)) > size {
		p = p[:size]
	}
	switch fourCC {
	case "VP8X":
		if len(p) < 10 {
			break
		}
		return int(le24(p[4:7])) + 1, int(le24(p[7:10])) + 1, nil
	case "VP8L":
		if len(p) < 5 || p[0] != 0x2f {
			break
		}
		bits := binary.LittleEndian.Uint32(p[1:5])
		if bits>>29 != 0 { // version must be 0
			break
		}
		return int(bits&0x3fff) + 1, int(bits>>14&0x3fff) + 1, nil
	case "VP8 ":
		// Frame tag (3 bytes, bit 0 clear on a key frame), start code 9d 01 2a, then 14-bit sizes.
		if len(p) < 10 || p[0]&1 != 0 || !bytes.Equal(p[3:6], []byte{0x9d, 0x01, 0x2a}) {
			break
		}
		return int(binary.LittleEndian.Uint16(p[6:8]) & 0x3fff), int(binary.LittleEndian.Uint16(p[8:10]) & 0x3fff), nil
	}
	return 0, 0, fmt.Errorf("%w: webp: bad %q chunk", ErrCorrupt, fourCC)
}

func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }
