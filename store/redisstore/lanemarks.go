package redisstore

import (
	"sync/atomic"
	"time"
)

// Chaining asks only where it may find work. An ack asks finishScript to chain the endpoint's next task
// (Store.AckNext), which costs the script a look at the endpoint's park and the shard's turns, two commands, however
// rarely it finds anything. At a steady, moderate load with leases taken at publish (prelease.go), every task is
// leased to an endpoint with nothing queued and nothing ever chains. So a Store remembers when it last saw each
// endpoint's work wait in a lane: a publish or enqueue of it that queued rather than leased, a claim or a chain that
// handed one out, a release, an end of a task that made it due again. An ack asks to chain only within laneMarkFor
// of that, and only until a finish that asked finds the endpoint's lane empty (finishScript's reply 4), which drops
// the mark: after a moment of backlog the acks ride with publishes again (ride.go) at once. Every task a Store
// finishes came to it from a claim, a chain or a lease at publish, so only the last kind, with nothing seen queued
// since, goes without asking. A mark missed (another replica queued work for the endpoint) costs no correctness: the
// ack ends the task without chaining, unparks the endpoint as it always does, and the next claim serves what waits.
const (
	laneMarkSlots = 1024 // endpoints hash into a fixed table: a collision only costs an ask for nothing
	laneMarkFor   = time.Second
)

// laneMarks holds, per slot, when work of an endpoint hashed there was last seen queued (Unix ns, Store clock).
type laneMarks struct{ at [laneMarkSlots]atomic.Int64 }

func (m *laneMarks) mark(endpointID string, now time.Time) {
	m.at[fnv32a(endpointID)%laneMarkSlots].Store(now.UnixNano())
}

// recent tells whether work of the endpoint was seen queued within laneMarkFor before now.
func (m *laneMarks) recent(endpointID string, now time.Time) bool {
	_, ok := m.seen(endpointID, now)
	return ok
}

// seen is recent that also returns the mark it went by, for clear.
func (m *laneMarks) seen(endpointID string, now time.Time) (int64, bool) {
	at := m.at[fnv32a(endpointID)%laneMarkSlots].Load()
	return at, at != 0 && now.UnixNano()-at < int64(laneMarkFor)
}

// clear drops the endpoint's mark after a finish that asked to chain found its lane empty, so that its next acks ride
// with publishes again at once rather than asking for up to laneMarkFor (after a moment of backlog: a burst, a slow
// write of Redis's). It drops only the mark the finish went by: one set since (work seen queued again) stays.
func (m *laneMarks) clear(endpointID string, mark int64) {
	m.at[fnv32a(endpointID)%laneMarkSlots].CompareAndSwap(mark, 0)
}
