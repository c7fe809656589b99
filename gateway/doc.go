// Package gateway is webhookd's composition root: it builds one running webhookd from a Config, and is how a Go
// program (an EMM console, say) embeds webhookd in its own process. `webhookd serve` only maps its flags onto a
// Config and calls it.
//
// # Tour
//
// New opens the store (the embedded bbolt store under Config.Data, or Redis: OpenStore), checks the endpoint secrets
// at rest against Config.Keyring, applies the declarative config file if one is named (configfile.go), and builds
// every part once, in this order:
//
//	endpoint reads and writes  endpoints.NewCachedStore(secrets.NewEndpoints(store, keyring), 1s)
//	services                   tenants.Service, endpoints.Service, events.Service (rings a delivery.Doorbell)
//	engine                     delivery.Engine: the store's queue, the egress client, the doorbell, metrics, and
//	                           events.OpsNotifier (publishes the webhookd.* operational events)
//	maintenance                delivery.Retention (prunes the delivery log), endpoints.Rechecker (re-checks URLs)
//	HTTP                       api.New over the three services and the log; /metrics from package metrics
//
// The engine and the events service meet through a delivery.Doorbell built before both: the events service rings
// it after a publish, the engine listens on it, and the engine's Notifier (events.OpsNotifier, which publishes
// the operational events) is built on the events service before the engine: nothing is assigned after construction. The
// one link made afterwards is explicit: the metrics read the engine's in-flight count once it exists
// (metrics.WatchInFlight), since the engine reports to the metrics as its Observer.
//
// Run serves the API on Config.Listen (or Config.Listener) and runs the engine and the retention service until its
// context ends, then shuts down gracefully: the HTTP server first, so no accepted request is cut, then the engine.
// Close releases the store and the listeners. A caller with its own HTTP server leaves Listen empty and mounts
// Handler; Run then runs only the background work.
//
// # Caveats
//
//   - One gateway per store directory: the embedded store holds a file lock. Several gateways may share a Redis store
//     (replicas).
//   - With no OperatorToken or OperatorTokenFile, the token is read from, or created in, <Data>/operator-token, as the
//     CLI does; an embedding program usually sets OperatorToken.
//   - The read cache over endpoints sees other replicas' writes within a second.
package gateway
