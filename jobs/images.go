package jobs

// Image task types: one per operation, so queues, metrics and the dashboard tell them apart.
const (
	TypeImageGenerate  = "images:generate"
	TypeImageEdit      = "images:edit"
	TypeImageVariation = "images:variation"
)

// IsImageType reports whether a task type is one of the image operations.
func IsImageType(taskType string) bool {
	return taskType == TypeImageGenerate || taskType == TypeImageEdit || taskType == TypeImageVariation
}

// ImageRef names an image in the object store. Images never travel through Redis: the api stores
// a caller's uploads first and the payload carries their keys; the worker reads them from there.
type ImageRef struct {
	Key    string `json:"key"`
	MIME   string `json:"mime"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// ImagePayload is one image job, already validated by the api for Model.
type ImagePayload struct {
	Model   string `json:"model"`
	Prompt  string `json:"prompt,omitempty"` // generate and edit
	N       int    `json:"n"`
	Size    string `json:"size"`
	Quality string `json:"quality,omitempty"`
	Style   string `json:"style,omitempty"`
	// ResponseFormat is what the caller wants back: "url", or "b64_json" for the bytes as well.
	ResponseFormat string `json:"response_format"`
	// Inputs are the images to edit (edit) or the one image to vary (variation).
	Inputs []ImageRef `json:"inputs,omitempty"`
	Mask   *ImageRef  `json:"mask,omitempty"`
}

// ImageResult is the body of a successful image call. The worker stores the images and fills in
// everything but URL and B64JSON; the api adds those each time it answers, so every answer's
// URLs are freshly signed and the results kept in Redis stay small.
type ImageResult struct {
	Success        bool    `json:"success"`
	Images         []Image `json:"images"`
	Model          string  `json:"model"`
	JobID          string  `json:"job_id"`
	Created        int64   `json:"created"` // Unix seconds
	ResponseFormat string  `json:"response_format"`
}

// Image is one stored result image.
type Image struct {
	URL           string `json:"url"`
	Key           string `json:"key"`
	MIME          string `json:"mime"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	B64JSON       string `json:"b64_json,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}
