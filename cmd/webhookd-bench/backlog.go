package main

import "time"

// backlogResult is the Redis backlog scenario: memory per pending delivery and the cost of claiming due ones out of
// a large scheduled backlog. It runs against the store package in-process (backlog_redis.go), since no API call
// schedules deliveries in the future.
type backlogResult struct {
	na  string
	err error

	pending     int // deliveries scheduled
	perMessage  int // deliveries per message (fan-out)
	messages    int
	endpoints   int
	bodyPerMsg  float64 // Redis bytes per message without deliveries (its body and record)
	perDelivery float64 // Redis bytes per pending delivery beyond its message's body
	enqueueRate float64 // deliveries/s scheduled, through Store.Publish

	due        int
	acked      int
	claimRate  float64    // due deliveries claimed and acked per second
	claimCall  latSummary // one Claim call (up to claimBatch tasks)
	ack        latSummary
	emptyClaim latSummary // a Claim call when nothing is due, with the whole backlog scheduled
	tasksPer   float64    // tasks per non-empty Claim call
	redisCPUk  float64    // redis-server CPU seconds per 1,000 claim+ack
	usedMemory int64      // used_memory with the backlog in place
	elapsed    time.Duration
}

// Parameters of the backlog scenario.
const (
	backlogFanout     = 100  // deliveries per message
	backlogEndpoints  = 1000 // endpoints they are spread over
	backlogClaimers   = 8    // goroutines claiming and acking, as the engine's dispatcher plus workers would
	backlogClaimBatch = 16   // the engine's DefaultClaimBatch
)
