package imagefmt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/tbackend/tbackend/imagefmt"
)

func encoded(t testing.TB, enc func(*bytes.Buffer, image.Image) error, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b, image.NewNRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(b *bytes.Buffer, m image.Image) error  { return png.Encode(b, m) }
func jpegOf(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) }
func gifOf(b *bytes.Buffer, m image.Image) error  { return gif.Encode(b, m, nil) }

// riff wraps one chunk in a WebP container, as RFC 9649 lays it out.
func riff(fourCC string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(4+8+len(payload)))
	b.WriteString("WEBP" + fourCC)
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(payload)))
	b.Write(payload)
	return b.Bytes()
}

func vp8l(w, h int) []byte {
	bits := uint32(w-1) | uint32(h-1)<<14 | 1<<28 // alpha hint set, version 0
	p := []byte{0x2f, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(p[1:5], bits)
	return riff("VP8L", p)
}

func vp8(w, h int) []byte {
	p := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(p[6:8], uint16(w))
	binary.LittleEndian.PutUint16(p[8:10], uint16(h))
	return riff("VP8 ", p)
}

func vp8x(w, h int) []byte {
	p := make([]byte, 10)
	p[0] = 0x10 // alpha flag
	for i, v := range []int{w - 1, h - 1} {
		p[4+3*i], p[5+3*i], p[6+3*i] = byte(v), byte(v>>8), byte(v>>16)
	}
	return riff("VP8X", p)
}

func TestDetect(t *testing.T) {
	for name, tc := range map[string]struct {
		data []byte
		want imagefmt.Info
	}{
		"png":           {encoded(t, pngOf, 30, 20), imagefmt.Info{MIME: "image/png", Ext: "png", Width: 30, Height: 20}},
		"jpeg":          {encoded(t, jpegOf, 17, 9), imagefmt.Info{MIME: "image/jpeg", Ext: "jpg", Width: 17, Height: 9}},
		"gif":           {encoded(t, gifOf, 12, 7), imagefmt.Info{MIME: "image/gif", Ext: "gif", Width: 12, Height: 7}},
		"webp lossy":    {vp8(640, 480), imagefmt.Info{MIME: "image/webp", Ext: "webp", Width: 640, Height: 480}},
		"webp lossless": {vp8l(1024, 768), imagefmt.Info{MIME: "image/webp", Ext: "webp", Width: 1024, Height: 768}},
		"webp extended": {vp8x(1536, 1024), imagefmt.Info{MIME: "image/webp", Ext: "webp", Width: 1536, Height: 1024}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := imagefmt.Detect(tc.data)
			if err != nil || got != tc.want {
				t.Fatalf("Detect = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDetectRefuses(t *testing.T) {
	png := encoded(t, pngOf, 8, 8)
	badVP8 := vp8(8, 8)
	badVP8[20+3] = 0 // start code broken
	for name, tc := range map[string]struct {
		data []byte
		want error
	}{
		"empty":             {nil, imagefmt.ErrUnknown},
		"text":              {[]byte("hello, not an image"), imagefmt.ErrUnknown},
		"gif magic only":    {[]byte("GIF89a"), imagefmt.ErrCorrupt},
		"png magic only":    {png[:8], imagefmt.ErrCorrupt},
		"png cut in IHDR":   {png[:20], imagefmt.ErrCorrupt},
		"jpeg magic only":   {[]byte("\xff\xd8\xff\xe0"), imagefmt.ErrCorrupt},
		"webp short":        {[]byte("RIFF\x00\x00\x00\x00WEBP"), imagefmt.ErrCorrupt},
		"webp bad chunk":    {riff("ALPH", make([]byte, 10)), imagefmt.ErrCorrupt},
		"webp bad vp8":      {badVP8, imagefmt.ErrCorrupt},
		"webp vp8 zero":     {vp8(0, 8), imagefmt.ErrCorrupt},
		"webp too large":    {vp8x(1<<14+1, 8), imagefmt.ErrCorrupt},
		"webp vp8l bad sig": {append(vp8l(8, 8)[:20], 0x00, 1, 2, 3, 4), imagefmt.ErrCorrupt},
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := imagefmt.Detect(tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("Detect = %+v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// FuzzDetect: hostile bytes never panic, and anything accepted has sane dimensions.
func FuzzDetect(f *testing.F) {
	for _, seed := range [][]byte{encoded(f, pngOf, 3, 3), encoded(f, jpegOf, 3, 3), vp8(3, 3), vp8l(3, 3), vp8x(3, 3)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := imagefmt.Detect(b)
		if err == nil && (info.Width < 1 || info.Height < 1 || info.Width > imagefmt.MaxDimension || info.Height > imagefmt.MaxDimension) {
			t.Fatalf("accepted %+v", info)
		}
	})
}
