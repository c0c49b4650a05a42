package openaiemu

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ReplySuffix ends every chat reply, so replies have several words to stream.
const ReplySuffix = "This reply comes from the OpenAI emulator."

// RefusalText is the refusal the content_policy fault puts in a chat answer.
const RefusalText = "I'm sorry, but I can't help with that request."

// ImageTokens is the emulator's token estimate for one input image.
const ImageTokens = 85

// Reply is the deterministic chat reply: "Echo: <text> I see N image(s). " + ReplySuffix, the
// image sentence only when images > 0. text is the last user message's text (its text parts
// joined by one space, fault directives removed, surrounding white space trimmed) and images
// the number of image_url parts in that message. Tests compute expected content with it;
// JSON mode answers {"echo": text, "words": <number of words>} instead.
func Reply(text string, images int) string {
	segs := []string{strings.TrimRight("Echo: "+text, " ")}
	if images > 0 {
		segs = append(segs, "I see "+strconv.Itoa(images)+" image(s).")
	}
	return strings.Join(append(segs, ReplySuffix), " ")
}

// Tokens splits s the way the emulator counts and streams it: each token is optional leading
// white space followed by a run of letters and digits or by one other character; trailing
// white space joins the last token. Concatenating the tokens gives s back.
func Tokens(s string) []string {
	var out []string
	i := 0
	for i < len(s) {
		j := i
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsSpace(r) {
				break
			}
			j += n
		}
		if j == len(s) {
			if len(out) > 0 {
				out[len(out)-1] += s[i:]
			}
			break
		}
		r, n := utf8.DecodeRuneInString(s[j:])
		k := j + n
		if isWordRune(r) {
			for k < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[k:])
				if !isWordRune(r2) {
					break
				}
				k += n2
			}
		}
		out = append(out, s[i:k])
		i = k
	}
	return out
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// CountTokens is the emulator's deterministic token count of s: len(Tokens(s)).
// A prompt costs 3 + the sum over messages of (3 + CountTokens of each text part +
// ImageTokens per image part); a completion costs CountTokens(content) per choice.
func CountTokens(s string) int { return len(Tokens(s)) }
