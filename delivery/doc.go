// Package delivery owns the delivery engine: it takes due deliveries from a Queue, sends each attempt to its
// endpoint under the endpoint's header profile, and records what happened in the delivery log. It is why an event
// answered 202 reaches its receivers: at least once, retried on a schedule, dead-lettered when the schedule is spent.
//
// # Tour
//
// types.go is the contract with the stores: Message, Delivery, Attempt and Status are the records; Queue schedules
// deliveries in per-endpoint lanes and leases them to workers as Tasks; Log is the read side; Chainer, SlowHolder,
// WakeSource and QueueStatsReporter are what a queue may add. Store packages (store/boltstore, store/redisstore)
// implement them.
//
// Engine is the worker. Build it with NewEngine from a Config (every field optional, each documented with its
// default) and Deps: the Queue, a MessageSource and an EndpointSource, the *http.Client (egress.NewClient: no
// redirects, no internal addresses), an optional Notifier, told when the engine disables an endpoint, and an
// optional Observer, told of every attempt (package metrics implements it). Run it under a context until shutdown:
//
//	eng, err := delivery.NewEngine(delivery.Config{Logger: log}, delivery.Deps{
//		Queue: st, Messages: st, Endpoints: st, Client: egress.NewClient(egress.ClientConfig{}), Doorbell: bell,
//	})
//	...
//	go eng.Run(ctx) // returns nil once ctx is cancelled and in-flight attempts are settled
//
// A Doorbell lets whoever makes work due (the events service) ring the engine without holding it. Retention is the
// log's maintenance service: NewRetention(log, RetentionConfig{Keep: ...}).Run(ctx) prunes finished deliveries,
// their attempts and messages beside the engine. attempt.go is one attempt: load, rate-limit, render, sign, POST,
// classify with the profile's policy (package profiles), record. How claiming, slow endpoints, shutdown and the
// caveats work is in docs/architecture.md ("Inside delivery").
package delivery
