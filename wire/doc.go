// Package wire holds the JSON bodies of webhookd's /v1 API: the requests each route takes, the answers it gives and
// the error body with its stable codes. The API server (package api) and the Go client (package client) both use
// these types, so that the two cannot drift apart.
//
// Times are RFC 3339. Request fields that are pointers tell absent from given; durations in requests are
// json.RawMessage because the API takes a Go duration string ("1s") or a number of milliseconds (see [Duration]).
package wire
