package httpapi

// BenchJSON exposes the benchmarks' 1 MiB JSON document to the external
// tests.
var BenchJSON = benchJSON
