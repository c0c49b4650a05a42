package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/imagefmt"
	"github.com/tbackend/tbackend/jobs"
	"github.com/tbackend/tbackend/storage/objstore"
)

// headerPeek is how much of an upload is looked at before it is stored: enough for any PNG or
// WebP header and for a JPEG's size behind the usual metadata.
const headerPeek = 1 << 20

// uploads stores one request's input images in the object store as they arrive (job payloads
// carry keys, never bytes), and remembers what it stored, so that a request that fails before
// its job is queued leaves nothing behind.
type uploads struct {
	store *objstore.Store
	ctx   context.Context
	day   time.Time // the request's: every key of one job names one day
	jobID string
	model imageModel
	// field is the body field of the inputs: input_images (edits) or image (variations).
	field     string
	inputs    []jobs.ImageRef
	mask      *jobs.ImageRef
	sawInputs bool // the inputs field was present, even if empty
}

func (s *Server) newUploads(c *fiber.Ctx, jobID string, m imageModel, field string) *uploads {
	return &uploads{store: s.deps.Objects, ctx: c.UserContext(), model: m, field: field,
		day: s.now(), jobID: jobID}
}

// add checks one image read from r (size bytes, or -1 when unknown) and stores it: an input, or
// the mask. loc is where a 422 points; label names the image in a 413; declared is the type the
// caller gave it, if any.
func (u *uploads) add(r io.Reader, size int64, loc []any, label, declared string, isMask bool) error {
	if err := u.roomFor(loc, isMask); err != nil {
		return err
	}
	capped := &cappedReader{r: r, left: int64(u.model.maxInputBytes)}
	br := bufio.NewReaderSize(capped, headerPeek)
	head, err := br.Peek(headerPeek)
	if capped.over {
		return u.tooLarge(label)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	info, err := u.check(head, loc, declared, isMask)
	if err != nil {
		return err
	}
	key := objstore.ImageInputKey(u.day, u.jobID, len(u.inputs), info.Ext)
	if isMask {
		key = objstore.ImageMaskKey(u.day, u.jobID)
	}
	_, err = u.store.Put(u.ctx, key, br, size, info.MIME, "")
	if capped.over || err != nil {
		u.drop(key)
		if capped.over {
			return u.tooLarge(label)
		}
		return err
	}
	ref := jobs.ImageRef{Key: key, MIME: info.MIME, Width: info.Width, Height: info.Height}
	if isMask {
		u.mask = &ref
	} else {
		u.inputs = append(u.inputs, ref)
	}
	return nil
}

// addInline stores an image sent inside JSON (base64, bare or as a data URI).
func (u *uploads) addInline(im *inlineImage, loc []any, label string, isMask bool) error {
	switch {
	case im.fault == inlineNotURI:
		return unprocessable(loc, "Value should be base64 or a base64 data URI (data:image/png;base64,...)", "value_error")
	case im.fault == inlineTooLarge || len(im.data) > u.model.maxInputBytes:
		return u.tooLarge(label)
	case im.fault == inlineBadBase64:
		return unprocessable(loc, "Value is not valid base64", "value_error")
	}
	data := im.data
	im.data = nil // the store's copy is the one kept
	return u.add(bytes.NewReader(data), int64(len(data)), loc, label, strings.ToLower(im.declared), isMask)
}

func (u *uploads) roomFor(loc []any, isMask bool) error {
	switch {
	case isMask && u.mask != nil:
		return unprocessable(loc, "Send at most one mask", "value_error")
	case !isMask && len(u.inputs) >= u.model.maxInputs:
		return unprocessable([]any{"body", u.field}, fmt.Sprintf("List should have at most %d item%s after validation (the limit of %s)",
			u.model.maxInputs, plural(u.model.maxInputs), u.model.name), "too_long")
	}
	return nil
}

// check reads the format and size from an image's first bytes: they must really be a PNG,
// JPEG or WebP (whatever the caller called it), a PNG for a mask, and what the model takes.
func (u *uploads) check(head []byte, loc []any, declared string, isMask bool) (imagefmt.Info, error) {
	info, err := imagefmt.Detect(head)
	switch {
	case errors.Is(err, imagefmt.ErrUnknown), err == nil && info.MIME == "image/gif":
		return info, unprocessable(loc, "Image should be a PNG, JPEG or WebP file", "value_error")
	case err != nil:
		return info, unprocessable(loc, "Image header is damaged or its size unreadable", "value_error")
	case declared != "" && declared != info.MIME:
		return info, unprocessable(loc, fmt.Sprintf("Image bytes are not %s but %s", declared, info.MIME), "value_error")
	case isMask && info.MIME != "image/png":
		return info, unprocessable(loc, "The mask should be a PNG image (with transparency where to edit)", "value_error")
	case !isMask && u.model.pngSquare && (info.MIME != "image/png" || info.Width != info.Height):
		return info, unprocessable(loc, fmt.Sprintf("Model %s takes square PNG images only", u.model.name), "value_error")
	}
	return info, nil
}

func (u *uploads) tooLarge(label string) error {
	msg := fmt.Sprintf("%s is larger than %d MB", label, u.model.maxInputBytes>>20)
	if u.model.maxInputBytes != maxImageBytes {
		msg += " (the limit of " + u.model.name + ")"
	}
	return httpError(http.StatusRequestEntityTooLarge, msg)
}

// checkMask: a mask covers the first input, so it must have its size.
func (u *uploads) checkMask(v *fieldErrors) {
	if u.mask == nil || len(u.inputs) == 0 {
		return
	}
	if first := u.inputs[0]; u.mask.Width != first.Width || u.mask.Height != first.Height {
		v.add([]any{"body", "mask"}, fmt.Sprintf("The mask (%dx%d) should have the size of the first image (%dx%d)",
			u.mask.Width, u.mask.Height, first.Width, first.Height), "value_error")
	}
}

// checkInputs reports a missing or empty list of inputs.
func (u *uploads) checkInputs(v *fieldErrors) {
	switch {
	case len(u.inputs) > 0:
	case u.sawInputs:
		v.add([]any{"body", u.field}, "List should have at least 1 item after validation, not 0", "too_short")
	default:
		v.required(u.field, false)
	}
}

// discard deletes everything stored so far (the request failed before its job was queued).
func (u *uploads) discard() {
	for _, ref := range u.inputs {
		u.drop(ref.Key)
	}
	if u.mask != nil {
		u.drop(u.mask.Key)
	}
	u.inputs, u.mask = nil, nil
}

func (u *uploads) drop(key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), 5*time.Second)
	defer cancel()
	_ = u.store.Delete(ctx, key)
}

// cappedReader reads at most left bytes and notices a reader that has more.
func unprocessable(loc []any, msg, typ string) error {
	return &HTTPError{Status: http.StatusUnprocessableEntity, Detail: []FieldError{{Loc: loc, Msg: msg, Type: typ}}}
}
