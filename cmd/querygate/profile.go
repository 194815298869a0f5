package main

import (
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole process to the file
// named by QUERYGATE_CPUPROFILE, for the bench package (bench/) to see
// where a request's time goes. Unset (the default) it does nothing. The
// profile holds function names and sample counts only: no request, value
// or secret. The returned function stops it; main calls it at exit.
func startProfile() (stop func()) {
	path := os.Getenv("QUERYGATE_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
