// The event-type catalogue: each type with its description, schema and examples.
import * as api from './api.js';
import { h } from './dom.js';

export async function catalogueView(view) {
  const types = await api.all('/v1/event-types');
  view.append(h('h1', null, 'Event types'),
    h('p', { class: 'muted' }, 'The events you can subscribe an endpoint to. ', h('code', null, 'webhookd.test'),
      ' is sent by "Send test event".'));
  if (!types.length) view.append(h('p', null, 'The catalogue is empty: an endpoint with the filter * receives every event.'));
  view.append(h('ul', { class: 'plain catalogue' }, types.map((t) => {
    const schema = t.schema || null;
    const examples = schema && Array.isArray(schema.examples) ? schema.examples : [];
    return h('li', { class: 'card' },
      h('h2', null, h('code', null, t.name)),
      h('p', null, t.description || 'No description.'),
      schema ? h('details', null, h('summary', null, 'Schema'), h('pre', null, JSON.stringify(schema, null, 2))) : null,
      examples.map((ex, i) => h('details', null, h('summary', null, 'Example ' + (i + 1)), h('pre', null, JSON.stringify(ex, null, 2)))));
  })));
}
