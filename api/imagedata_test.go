package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Inline images decode the same whatever escapes and line breaks the JSON carries, and each way
// of being wrong is told apart.
func TestInlineImageDecoding(t *testing.T) {
	img := pngImage(t, 8, 8)
	text := b64(img)
	wrapped := text[:20] + `\r\n` + text[20:40] + `\n` + text[40:]
	for name, tc := range map[string]struct {
		json     string
		uri      bool
		declared string
		fault    inlineFault
	}{
		"data uri":       {`"data:image/png;base64,` + text + `"`, true, "image/png", inlineOK},
		"escaped /":      {`"data:image\/png;base64,` + strings.ReplaceAll(text, "/", `\/`) + `"`, true, "image/png", inlineOK},
		"line breaks":    {`"data:image/png;base64,` + wrapped + `"`, true, "image/png", inlineOK},
		"unicode escape": {`"\u0064ata:image/png;base64,` + text + `"`, true, "image/png", inlineOK},
		"spaces around":  {`"data:image/png;base64, ` + text + ` "`, true, "image/png", inlineOK},
		"bare":           {`"` + text + `"`, false, "", inlineOK},
		"not base64":     {`"data:image/png;base64,!!!!"`, true, "image/png", inlineBadBase64},
		"cut":            {`"data:image/png;base64,` + text[:len(text)-3] + `"`, true, "image/png", inlineBadBase64},
		"tab escape":     {`"data:image/png;base64,\t` + text + `"`, false, "", inlineBadBase64},
		"no base64 mark": {`"data:image/png,` + text + `"`, false, "", inlineNotURI},
		"no comma":       {`"data:image/png;base64"`, false, "", inlineNotURI},
	} {
		t.Run(name, func(t *testing.T) {
			var im inlineImage
			if err := json.Unmarshal([]byte(tc.json), &im); err != nil {
				t.Fatal(err)
			}
			if im.fault != tc.fault || im.uri != tc.uri || im.declared != tc.declared {
				t.Fatalf("got %+v", im)
			}
			if tc.fault == inlineOK && !bytes.Equal(im.data, img) {
				t.Fatalf("decoded %d bytes, not the image", len(im.data))
			}
		})
	}
	var im inlineImage
	if err := json.Unmarshal([]byte(`12`), &im); err == nil {
		t.Error("a number decoded as an image")
	}
	big := `"` + b64(make([]byte, maxImageBytes+10)) + `"`
	if err := json.Unmarshal([]byte(big), &im); err != nil || im.fault != inlineTooLarge || im.data != nil {
		t.Errorf("an image over %d bytes: %v, fault %d", maxImageBytes, err, im.fault)
	}
}

// BenchmarkChatImageBody reports what a /chat body with a 20 MB image costs beyond the body
// itself while it is decoded and checked (held/body; the request holds 1 + that times its body).
func BenchmarkChatImageBody(b *testing.B) {
	img := bigPNG(b, chatMaxImage-1024)
	body := []byte(`{"message":"what is this?","image_data":"data:image/png;base64,` + b64(img) + `"}`)
	benchHeldPerBody(b, body, func(req *chatRequest) {
		if _, err := checkChatImage("image_data", req.ImageData, chatMaxImage); err != nil {
			b.Fatal(err)
		}
	})
}
