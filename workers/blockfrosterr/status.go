// Package blockfrosterr reads blockfrost-go's errors. It is its own package so that every reader
// of a Blockfrost answer (the workers' payment check, token analysis, the pay command) shares one
// reading without importing the workers package that wires them.
package blockfrosterr

import (
	"encoding/json"
	"errors"

	"github.com/blockfrost/blockfrost-go"
)

// Status is the HTTP status of a blockfrost-go error (0 when it carries none). The library types
// only some statuses; for the others (402, 425, 502, 503, …) it keeps the raw body, whose
// status_code field Blockfrost always sets.
func Status(err error) int {
	var api *blockfrost.APIError
	if !errors.As(err, &api) {
		return 0
	}
	switch e := api.Response.(type) {
	case blockfrost.BadRequest:
		return e.StatusCode
	case blockfrost.UnauthorizedError:
		return e.StatusCode
	case blockfrost.NotFound:
		return e.StatusCode
	case blockfrost.OverusageLimit:
		return e.StatusCode
	case blockfrost.AutoBanned:
		return e.StatusCode
	case blockfrost.InternalServerError:
		return e.StatusCode
	case string:
		var v struct {
			StatusCode int `json:"status_code"`
		}
		if json.Unmarshal([]byte(e), &v) == nil {
			return v.StatusCode
		}
	}
	return 0
}
