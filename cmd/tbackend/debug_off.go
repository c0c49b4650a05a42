//go:build !tbench

package main

import "net/http"

// debugHandlers adds nothing: profiles are served only by binaries built with -tags tbench
// (see debug_tbench.go).
func debugHandlers(*http.ServeMux) {}
