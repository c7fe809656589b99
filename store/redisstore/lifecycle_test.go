package redisstore

import (
	"testing"

	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/store/storetest"
)

func TestLifecycleConformance(t *testing.T) {
	srv := testredis.Start(t)
	storetest.RunLifecycle(t, func(t *testing.T) storetest.LifecycleStore {
		return openOn(t, redisURL(srv), srv.Prefix, Options{})
	})
}

func TestLifecycleConformanceCluster(t *testing.T) {
	url := startCluster(t)
	storetest.RunLifecycle(t, func(t *testing.T) storetest.LifecycleStore { return openOn(t, url, "", Options{}) })
}
