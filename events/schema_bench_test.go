package events_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/events"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// nopPublish is the embedded store (catalogue, endpoints) whose Publish writes nothing, so that the benchmarks
// measure what the service does on the publish path: validation, the schema check, fan-out.
type nopPublish struct{ *boltstore.Store }

func (nopPublish) Publish(_ context.Context, m *delivery.Message, ds []*delivery.Delivery, _ time.Time) (*delivery.Message, int, bool, error) {
	return m, len(ds), false, nil
}

// BenchmarkPublishSchema publishes one device.enrolled event with and without a schema in the catalogue
// (go test -run '^$' -bench PublishSchema ./events/).
func BenchmarkPublishSchema(b *testing.B) {
	data := json.RawMessage(`{"device_id":"d-42","imei":"356938035643809","os":"android","serial":"R58M12ABCDE","location":{"lat":48.85,"lon":2.35}}`)
	schema := json.RawMessage(`{"type":"object","required":["device_id","os"],"properties":{"device_id":{"type":"string","minLength":1},"imei":{"type":"string","pattern":"^[0-9]{15}$"},"os":{"enum":["android","ios","windows","macos","linux"]},"serial":{"type":"string","maxLength":64},"location":{"type":"object","required":["lat","lon"],"properties":{"lat":{"type":"number","minimum":-90,"maximum":90},"lon":{"type":"number","minimum":-180,"maximum":180}}}}}`)
	for _, c := range []struct {
		name   string
		schema json.RawMessage
	}{{"no-schema", nil}, {"schema", schema}} {
		b.Run(c.name, func(b *testing.B) {
			st, err := boltstore.Open(b.TempDir(), boltstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			s := events.NewService(nopPublish{st}, events.Config{Endpoints: st})
			ctx := context.Background()
			if _, _, err := s.PutEventType(ctx, events.EventTypeInput{Name: "device.enrolled", Schema: c.schema}); err != nil {
				b.Fatal(err)
			}
			in := events.PublishInput{Type: "device.enrolled", Data: data}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := s.Publish(ctx, "ten", in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("compile-each-time", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := events.CompileEventSchema(schema); err != nil {
				b.Fatal(err)
			}
		}
	})
}
