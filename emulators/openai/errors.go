package openaiemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// apiError is one of the API's error answers: an HTTP status and the body
// {"error": {"message", "type", "param", "code"}}. An empty Param or Code is sent as null.
type apiError struct {
	Status  int
	Type    string
	Message string
	Param   string
	Code    string
}

func (e *apiError) Error() string { return e.Message }

func (e *apiError) body() map[string]any {
	return map[string]any{"error": e.object()}
}

func (e *apiError) object() map[string]any {
	return map[string]any{
		"message": e.Message,
		"type":    e.Type,
		"param":   nullable(e.Param),
		"code":    nullable(e.Code),
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	WriteJSON(w, e.Status, e.body())
}

// The request-validation errors below reproduce the real API's wording, param paths and codes.

func invalidRequest(param, code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error",
		Message: fmt.Sprintf(format, args...), Param: param, Code: code}
}

func errMissing(param string) *apiError {
	return invalidRequest(param, "missing_required_parameter", "Missing required parameter: '%s'.", param)
}

func errInvalidValue(param, got string, supported ...string) *apiError {
	return invalidRequest(param, "invalid_value", "Invalid value: '%s'. Supported values are: %s.", got, quoteList(supported))
}

func errIntAboveMax(param string, maxV, got int) *apiError {
	return invalidRequest(param, "integer_above_max_value",
		"Invalid '%s': integer above maximum value. Expected a value <= %d, but got %d instead.", param, maxV, got)
}

func errIntBelowMin(param string, minV, got int) *apiError {
	return invalidRequest(param, "integer_below_min_value",
		"Invalid '%s': integer below minimum value. Expected a value >= %d, but got %d instead.", param, minV, got)
}

func errDecAboveMax(param string, maxV, got float64) *apiError {
	return invalidRequest(param, "decimal_above_max_value",
		"Invalid '%s': decimal above maximum value. Expected a value <= %s, but got %s instead.", param, fmtNum(maxV), fmtNum(got))
}

func errDecBelowMin(param string, minV, got float64) *apiError {
	return invalidRequest(param, "decimal_below_min_value",
		"Invalid '%s': decimal below minimum value. Expected a value >= %s, but got %s instead.", param, fmtNum(minV), fmtNum(got))
}

func errStringTooLong(param string, maxV, got int) *apiError {
	return invalidRequest(param, "string_above_max_length",
		"Invalid '%s': string too long. Expected a string with maximum length %d, but got a string with length %d instead.", param, maxV, got)
}

func errEmptyString(param string) *apiError {
	return invalidRequest(param, "empty_string",
		"Invalid '%s': empty string. Expected a string with minimum length 1, but got an empty string instead.", param)
}

func errArrayTooLong(param string, maxV, got int) *apiError {
	return invalidRequest(param, "array_above_max_length",
		"Invalid '%s': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", param, maxV, got)
}

func errInvalidType(param, expected, got string) *apiError {
	return invalidRequest(param, "invalid_type", "Invalid type for '%s': expected %s, but got %s instead.", param, expected, got)
}

func errUnknownParameter(param string) *apiError {
	return invalidRequest(param, "unknown_parameter", "Unknown parameter: '%s'.", param)
}

func errModelNotFound(model string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found",
		Message: fmt.Sprintf("The model '%s' does not exist or you do not have access to it.", model)}
}

func errBadJSON() *apiError {
	return invalidRequest("", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please visit https://platform.openai.com/docs/guides/text-generation.)")
}

// decodeJSON decodes a request body, turning decoding failures into the API's errors.
func decodeJSON(data []byte, v any) *apiError { return decodeJSONAt(data, v, "") }

// decodeJSONAt decodes a value found at param path prefix ("" for the whole body).
func decodeJSONAt(data []byte, v any, prefix string) *apiError {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if prefix != "" {
			field = strings.TrimSuffix(prefix+"."+field, ".")
		}
		if field != "" {
			return errInvalidType(field, jsonTypeName(te.Type.Kind().String()), jsonValueName(te.Value))
		}
	}
	if prefix != "" {
		return errInvalidType(prefix, "an object", jsonKindOf(data))
	}
	return errBadJSON()
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "float64", "float32":
		return "a decimal"
	case "int", "int64", "int32":
		return "an integer"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a value of another type"
}

func jsonValueName(v string) string {
	switch {
	case v == "string":
		return "a string"
	case v == "bool":
		return "a boolean"
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	case strings.HasPrefix(v, "number"):
		if strings.ContainsAny(v, ".eE") {
			return "a decimal"
		}
		return "an integer"
	}
	return v
}

func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = "'" + v + "'"
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	case 2:
		return q[0] + " and " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + ", and " + q[len(q)-1]
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
