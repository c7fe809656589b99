package boltstore

import (
	"testing"

	"github.com/webhookd/webhookd/store/storetest"
)

func TestLifecycleConformance(t *testing.T) {
	storetest.RunLifecycle(t, func(t *testing.T) storetest.LifecycleStore { return open(t) })
}
