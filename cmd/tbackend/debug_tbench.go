//go:build tbench

package main

import (
	"net/http"
	"net/http/pprof"
)

// debugHandlers adds the runtime profiles (/debug/pprof/…) to the METRICS_ADDR listener of a
// binary built with -tags tbench, as the benchmark command (cmd/tbench) builds it: it profiles
// the api and the worker and reads their memory after a collection. Ordinary builds have none.
func debugHandlers(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
