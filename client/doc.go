// Package client is a typed Go client for webhookd's /v1 API: what an EMM/MDM console written in Go uses to create
// tenants and endpoints, publish events and read the delivery log. Request and answer types are those of package
// wire, which the server uses too.
//
// Every method takes a context first. An error answer is an [*Error] carrying the API's stable code (test it with
// [IsCode], [IsNotFound] or [IsConflict]); a network failure is returned wrapped. List routes come twice: one page
// at a time (ListTenants, ...) and as an iterator over every page (Tenants, ...). An event's ID is its idempotency
// key: publishing the same ID again within the server's window publishes nothing new and answers the first message
// with Duplicate set, so a producer may retry a publish safely.
package client
