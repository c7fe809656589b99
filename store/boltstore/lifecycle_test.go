package boltstore

import (
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/store/storetest"
)

func TestLifecycleConformance(t *testing.T) {
	// Small transactions, so that a purge can stop half-way through any kind of record.
	opts := Options{PruneBatch: 7}
	storetest.RunLifecycle(t, func(t *testing.T) storetest.LifecycleStore {
		s, err := Open(t.TempDir(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storetest.LifecycleHooks{
		Reopen: func(t *testing.T, s storetest.LifecycleStore) storetest.LifecycleStore {
			path := s.(*Store).Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			n, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n.Close() })
			return n
		},
		Dump: dumpBolt,
	})
}

// dumpBolt lists every key of every bucket as "bucket key".
func dumpBolt(t *testing.T, s storetest.LifecycleStore) []string {
	var out []string
	err := s.(*Store).db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, _ []byte) error {
				out = append(out, fmt.Sprintf("%s %q", name, k))
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
