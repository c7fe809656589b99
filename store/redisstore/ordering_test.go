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
