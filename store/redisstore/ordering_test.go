package redisstore

import (
	"testing"

	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/store/storetest"
)

func TestOrderingConformance(t *testing.T) {
	srv := testredis.Start(t)
	storetest.RunOrdering(t, func(t *testing.T) storetest.Store {
		return openOn(t, redisURL(srv), srv.Prefix, Options{})
	})
}

// TestOrderingThreeStepPublish runs the ordering cases with the publish a Cluster uses.
func TestOrderingThreeStepPublish(t *testing.T) {
	srv := testredis.Start(t)
	storetest.RunOrdering(t, func(t *testing.T) storetest.Store {
		s := openOn(t, redisURL(srv), srv.Prefix, Options{})
		s.onePublish = false
		return s
	})
}

// A key blocked behind a dead delivery stays blocked for a new Store on the same data (the old one abandoned, as
// after a crash), and a retried head stays first.
func TestOrderingBlockSurvivesRestart(t *testing.T) {
	srv := testredis.Start(t)
	storetest.RunOrderingRestart(t, func(t *testing.T) (storetest.Store, func() storetest.Store) {
		first := openOn(t, redisURL(srv), srv.Prefix, Options{})
		opts := first.opt
		var all []*Store
		t.Cleanup(func() {
			for _, s := range append(all, first) {
				s.Close()
			}
		})
		return first, func() storetest.Store {
			s, err := Open(t.Context(), redisURL(srv), opts)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, s)
			return s
		}
	})
}
