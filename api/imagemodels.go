package api

import "strings"

// imageModel is what an image model accepts, so that requests it would refuse are answered
// with a 422 here instead of a queued job and an upstream round trip.
type imageModel struct {
	name      string
	sizes     []string
	maxN      int
	maxPrompt int      // characters
	qualities []string // empty: the model takes no quality
	styles    []string // empty: the model takes no style
	// maxInputs is how many images one edit takes (0: the model does not edit images).
	maxInputs int
	// maxInputBytes bounds each uploaded image; inputs must be square PNGs when pngSquare.
	maxInputBytes int
	pngSquare     bool
}

const (
	maxImageBytes = 25 << 20 // our own bound on any uploaded image
	maxImagesN    = 4        // images per call for a model we know nothing about
	// defaultImageSize is the size every model takes.
	defaultImageSize = "1024x1024"
)

// variationModel is the only model the images API makes variations with.
const variationModel = "dall-e-2"

// imageModelFor describes a model by its family, as the OpenAI API documents them. Other
// OpenAI-compatible models get conservative limits.
func imageModelFor(name string) imageModel {
	switch {
	case strings.HasPrefix(name, "dall-e-2"):
		return imageModel{name: name, sizes: []string{"256x256", "512x512", "1024x1024"}, maxN: 10, maxPrompt: 1000,
			qualities: []string{"standard"}, maxInputs: 1, maxInputBytes: 4 << 20, pngSquare: true}
	case strings.HasPrefix(name, "dall-e-3"):
		return imageModel{name: name, sizes: []string{"1024x1024", "1792x1024", "1024x1792"}, maxN: 1, maxPrompt: 4000,
			qualities: []string{"standard", "hd"}, styles: []string{"vivid", "natural"}}
	case strings.HasPrefix(name, "gpt-image"), strings.HasPrefix(name, "chatgpt-image"):
		return imageModel{name: name, sizes: []string{"1024x1024", "1536x1024", "1024x1536", "auto"}, maxN: 10,
			maxPrompt: 32000, qualities: []string{"low", "medium", "high", "auto"}, maxInputs: 16, maxInputBytes: maxImageBytes}
	}
	return imageModel{name: name, sizes: []string{"256x256", "512x512", "1024x1024"}, maxN: maxImagesN, maxPrompt: 4000,
		maxInputs: 4, maxInputBytes: maxImageBytes}
}
