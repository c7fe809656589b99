package boltstore

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Every bucket and every key layout lives in this file.
//
// Keys join their parts with a 0x00 byte. Ids are [A-Za-z0-9_-] (ids.Valid), so 0x00 never occurs inside one and sorts
// before every id byte: a prefix scan of key(tenant, "") sees exactly that tenant's records, in ascending id order.
// Tenant scoping is therefore structural: a read builds its key from the caller's tenant and cannot reach another's.
var (
	bMeta          = []byte("meta")                   // "version" → formatVersion
	bTenants       = []byte("tenants")                // tenant → Tenant
	bTokens        = []byte("tokens")                 // sha256 → tokenRec
	bTokensByTen   = []byte("tokens_by_tenant")       // tenant 0 token → sha256
	bEndpoints     = []byte("endpoints")              // tenant 0 endpoint → endpointRec
	bEventTypes    = []byte("event_types")            // name → EventType
	bMessages      = []byte("messages")               // tenant 0 msg → Message
	bMsgByTime     = []byte("messages_by_time")       // timeKey(created) tenant 0 msg → nil (retention)
	bIdem          = []byte("idempotency")            // tenant 0 idempotency key → idemRec
	bDeliveries    = []byte("deliveries")             // tenant 0 dlv → Delivery
	bDlvByEndpoint = []byte("deliveries_by_endpoint") // tenant 0 endpoint 0 dlv → nil
	bDlvByMessage  = []byte("deliveries_by_message")  // tenant 0 msg 0 dlv → nil
	bPending       = []byte("pending")                // tenant 0 dlv → nil: rebuilds the lanes at Open
	bTerminal      = []byte("terminal")               // timeKey(created) tenant 0 dlv → nil (retention)
	bAttempts      = []byte("attempts")               // tenant 0 dlv 0 seq(8) → Attempt
	bPortal        = []byte("portal_sessions")        // sha256 → portalRec
	bPortalByTen   = []byte("portal_by_tenant")       // tenant 0 session → sha256
	// bBlocked holds the ordering keys held behind a failed or dead delivery (ordering.go).
	bBlocked = []byte("ordering_blocked") // tenant 0 endpoint 0 ordering key → dlv
)

var allBuckets = [][]byte{bMeta, bTenants, bTokens, bTokensByTen, bEndpoints, bEventTypes, bMessages, bMsgByTime,
	bIdem, bDeliveries, bDlvByEndpoint, bDlvByMessage, bPending, bTerminal, bAttempts,
	bPortal, bPortalByTen, bBlocked}

// appended lists the buckets whose new keys come in ascending order: ids are UUIDv7 and time keys are times, so each
// tenant's (or endpoint's, or message's) keys grow at the end of its range. bbolt splits a node at FillPercent of a
// page (half, by default), which suits random inserts but leaves every node behind an append half empty: twice the
// pages, and a deeper tree, so more pages to copy and write on every commit.
var appended = [][]byte{bMessages, bMsgByTime, bDeliveries, bDlvByEndpoint, bDlvByMessage, bPending, bTerminal,
	bAttempts}

// appendedFill is the FillPercent of the appended buckets: nearly full, with room for a record to grow in place
// (a delivery's record is rewritten with its outcome).
const appendedFill = 0.9

// fillAppended sets the FillPercent of tx's appended buckets; a write transaction calls it before it writes.
// FillPercent is a property of the open bucket, not of the file: it changes how nodes split, never what they hold.
func fillAppended(tx *bolt.Tx) {
	for _, name := range appended {
		if b := tx.Bucket(name); b != nil {
			b.FillPercent = appendedFill
		}
	}
}

const formatVersion = "1"

const sep = 0

// key joins parts with the separator byte.
func key(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return b
}

// prefix is key(parts...) followed by the separator: the prefix of every key under parts.
func prefix(parts ...string) []byte { return append(key(parts...), sep) }

// splitKey splits k at its separators.
func splitKey(k []byte) []string {
	parts := bytes.Split(k, []byte{sep})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

const timeKeyLen = 12

// timeKey is a 12-byte order-preserving encoding of t (seconds with the sign bit flipped, then nanoseconds) followed
// by rest. Any time.Time encodes, including the zero time.
func timeKey(t time.Time, rest []byte) []byte {
	b := make([]byte, timeKeyLen, timeKeyLen+len(rest))
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^1<<63)
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
	return append(b, rest...)
}

// timeOfKey decodes the time at the start of a timeKey.
func timeOfKey(k []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(k) ^ 1<<63)
	return time.Unix(sec, int64(binary.BigEndian.Uint32(k[8:])))
}

// attemptKey is the key of one attempt record: seq orders a delivery's attempts as they were written.
func attemptKey(tenant, dlv string, seq uint64) []byte {
	b := prefix(tenant, dlv)
	return binary.BigEndian.AppendUint64(b, seq)
}
