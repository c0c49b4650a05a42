package objstore

import (
	"strconv"
	"time"
)

// The object keys of ours, one function per kind, as storage.Keys is for Redis: a kind's folder,
// then the UTC day (a listing by prefix finds one kind, or one kind's day), then the job id.
//
//	inputs/chat/YYYY/MM/DD/<job>.<ext>         a chat request's image (deleted after the job)
//	inputs/images/YYYY/MM/DD/<job>-<i>.<ext>   an image edit's inputs (deleted after the job)
//	inputs/images/YYYY/MM/DD/<job>-mask.png    its mask
//	images/YYYY/MM/DD/<job>-<i>.<ext>          generated images (kept for OBJECT_RETENTION)
const (
	inputsFolder  = "inputs/"
	resultsFolder = "images/"
)

func day(t time.Time) string { return t.UTC().Format("2006/01/02") }

// ChatInputKey is the key of the image a chat request sent with job jobID, on day t.
func ChatInputKey(t time.Time, jobID, ext string) string {
	return inputsFolder + "chat/" + day(t) + "/" + jobID + "." + ext
}

// ImageInputKey is the key of input i of image job jobID, on day t.
func ImageInputKey(t time.Time, jobID string, i int, ext string) string {
	return imageInputs(t, jobID) + "-" + strconv.Itoa(i) + "." + ext
}

// ImageMaskKey is the key of the mask of image job jobID (always PNG), on day t.
func ImageMaskKey(t time.Time, jobID string) string { return imageInputs(t, jobID) + "-mask.png" }

func imageInputs(t time.Time, jobID string) string {
	return inputsFolder + "images/" + day(t) + "/" + jobID
}

// ImageResultKey is the key of image i that job jobID generated, on day t.
func ImageResultKey(t time.Time, jobID string, i int, ext string) string {
	return resultsFolder + day(t) + "/" + jobID + "-" + strconv.Itoa(i) + "." + ext
}
