// Package delivery owns the delivery engine: it takes due deliveries from a Queue, sends each attempt to its
// endpoint under the endpoint's header profile, and records what happened in the delivery log.
//
// # Tour
//
// types.go is the contract with the stores: Message, Delivery, Attempt and Status are the records; Queue schedules
// deliveries in per-endpoint lanes and leases them to workers as Tasks; Log is the read side. Store packages
// (store/boltstore, the Redis store) implement both.
//
// Engine is the worker. Build it with NewEngine from a Config (every field optional, each documented with its
// default) and Deps: the Queue, a MessageSource and an EndpointSource (a Log and an endpoints.Store satisfy them), the
// *http.Client (use egress.NewClient: no redirects, no internal addresses), an optional Notifier, told when the
// engine disables an endpoint, and an optional Observer, told of every attempt's profile, outcome and latency, every
// disable and every failed store call (metrics turns these into Prometheus metrics; this package imports
// no metrics library). A Queue may also report its depth by implementing QueueStatsReporter. Run it under a context
// until shutdown:
//
//	eng, err := delivery.NewEngine(delivery.Config{Logger: log}, delivery.Deps{
//		Queue: st, Messages: st, Endpoints: st, Client: egress.NewClient(egress.ClientConfig{}), Notifier: n,
//	})
//	...
//	go eng.Run(ctx)   // returns nil once ctx is cancelled and in-flight attempts are settled
//	...
//	st.Publish(ctx, msg, deliveries, since)
//	eng.Wake()        // the new deliveries go out now, not at the next poll
//
// A Doorbell lets whoever makes work due ring the engine without holding it: build one first, give it to the events
// service (as its Waker) and to NewEngine (Deps.Doorbell), so neither needs the other to exist first (the engine's
// Notifier publishes through that events service).
//
// Retention is the log's maintenance service: NewRetention(log, RetentionConfig{Keep: ...}).Run(ctx) prunes finished
// deliveries, their attempts and messages older than Keep, at start and then periodically, beside the engine.
//
// Run claims due tasks in batches of ClaimBatch, never more than Workers attempts at once and never more than
// MaxInFlightPerEndpoint to one endpoint (Claim enforces that across every process sharing the queue, so a slow
// endpoint holds at most that many workers). When nothing is due it sleeps until the queue's next due time, at most
// IdleMax; Wake, an attempt finishing, or a signal from a Queue that is a WakeSource (another process made work
// due) ends the sleep early. Every ReclaimEvery (backing off to 6 × ReclaimEvery while idle) it puts back tasks
// whose lease expired (a crashed or stalled worker, here or elsewhere): the request may have gone out, so the
// attempt counts.
//
// An endpoint whose attempt timed out is slow until an attempt to it succeeds: meanwhile this process keeps at most
// one attempt to it in flight, and hands other tasks of it back unspent, due about one default attempt timeout later
// plus one more per 8 tasks handed back before in the same slow spell (at most 10 s more), so that a few hanging
// endpoints hold a few workers, not MaxInFlightPerEndpoint each, and their backlogs do not churn through the queue.
// A Queue that is a SlowHolder is also told: every timeout holds the endpoint to one task in flight there for 10 s
// (for every process sharing the queue), and the first success lifts the hold, so that claims stop handing out the
// tasks this process would only hand back.
//
// One attempt: load the endpoint (deleted or disabled: the delivery fails without a request); apply its rate limit
// (a task told to wait is released, due when its reserved token is, and no worker blocks); load the message; render
// the body with the endpoint's profile into a pooled buffer; sign with the endpoint's current keys (parsed once and
// cached until they change) and a timestamp of this attempt; set the endpoint's custom headers, then the profile's,
// which win; POST under the endpoint's timeout; keep the first ResponseKeep bytes of the answer. The profile's outcome
// policy (package profiles) classifies the result:
//
//	             2xx      410          429, 5xx, 3xx, network, timeout   other 4xx
//	standard     success  gone         retry                             retry
//	openmdm      success  gone         retry                             failed (final)
//	mender       success  gone         retry                             retry
//
// A retry is due after Retry.Backoff (Initial × 2^(n−1), capped, ±Jitter), or after the receiver's Retry-After on a
// 429 or 503 when that is later (at most RetryAfterCap). When the last attempt fails the delivery is dead. "gone"
// fails the delivery and disables the endpoint; so does failing for HealthSpan with no success in between (reason
// "failing"). Either calls the Notifier once. Health is written only on a transition: healthy to failing, failing to
// healthy, to disabled.
//
// Every attempt logs one line, "delivery attempt", with tenant, endpoint_id, msg_id, delivery_id, attempt, status,
// latency_ms, outcome and, on failure, error: never a key, a signature, a body or the endpoint's URL.
//
// # Shutdown
//
// When Run's context is cancelled it stops claiming, lets in-flight attempts finish and be recorded for up to
// ShutdownTimeout, then aborts the rest and releases their tasks unspent (due at once, attempt not counted). Results
// are written under a context that ignores cancellation and is bounded by what is left of the task's lease.
//
// # Caveats
//
//   - At least once, not exactly once. A request aborted at shutdown, or whose result could not be written, may have
//     reached the receiver and will be sent again with the same webhook-id: receivers deduplicate on it.
//   - The rate limit is per process. With several replicas sharing a queue an endpoint can receive up to the limit
//     times the number of replicas; the in-flight cap, enforced by the queue, is global.
//   - A task the limiter holds back keeps the token it reserved; a backlog is spread over future slots at the rate in
//     force when each task was first seen. When the endpoint's rate changes (or is removed) the stores re-time the
//     tasks held back (released unspent, not retries waiting for their backoff) to the new rate from now, and the
//     engine drops the slots reserved under the old rate when it first sees the new one.
//   - An endpoint's timeout covers the whole exchange, reading the (bounded) response body included, and is cut to
//     MaxEndpointTimeout and to half the Lease, so that the result is written while the lease holds. Leases are not
//     extended.
//   - Bodies beyond ResponseLimit are not drained: that connection is closed rather than reused.
//   - Health and disabling work on the endpoint as loaded at the start of the attempt. Attempts to one endpoint that
//     run at once may each write the first failure time (the last write wins, the times differ by the attempts'
//     spread). A disable, and its notification, happens once per process; two replicas may each notify once.
//   - A configuration error the API should have refused (a key that does not parse, a standard endpoint with no key)
//     spends the attempt with the error in the log, and does not count against the endpoint's health.
//   - Config.Now drives timestamps, scheduling, leases and health; the stores' own writes (e.g. an endpoint's
//     UpdatedAt) use their clocks. A test clock far from the wall clock confuses the once-per-process disable check.
package delivery
