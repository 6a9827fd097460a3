// Registry forms for admin tokens (POST /entities, /feature-views, /feature-views/{view}/features,
// /feature-services, PUT /features/{view}/{feature}/status). The server checks the token again;
// its error message is shown exactly as it came.
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorBox, href } from './util.jsx';

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

// A form that posts what `build(values)` returns to `path`, then calls onDone(answer).
function RegistryForm({ id, title, method = 'POST', path, fields, build, onDone, submit = 'Create' }) {
  const [values, setValues] = useState(Object.fromEntries(fields.map((f) => [f.name, f.initial ?? (f.type === 'checkbox' ? true : '')])));
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (name, v) => setValues({ ...values, [name]: v });
  async function send(e) {
    e.preventDefault();
    setError(null); setDone(null);
    let body;
    try { body = build(values); } catch (err) { setError({ code: 'invalid_input', message: err.message }); return; }
    setBusy(true);
    try {
      const answer = await api(typeof path === 'function' ? path(values) : path, { method, body });
      setDone(answer);
      if (onDone) onDone(answer);
    } catch (err) { setError(err); }
    setBusy(false);
  }
  return (
    <form class="registry-form" id={id} onSubmit={send}>
      <h3>{title}</h3>
      {fields.map((f) => (
        <label key={f.name}>
          <span>{f.label || f.name}</span>
          {f.type === 'textarea' ? <textarea name={f.name} rows={f.rows || 5} value={values[f.name]} onInput={(e) => set(f.name, e.currentTarget.value)} />
            : f.type === 'select' ? (
              <select name={f.name} value={values[f.name]} onChange={(e) => set(f.name, e.currentTarget.value)}>
                {f.options.map((o) => <option key={o} value={o}>{o}</option>)}
              </select>)
            : f.type === 'checkbox' ? <input type="checkbox" name={f.name} checked={values[f.name]} onChange={(e) => set(f.name, e.currentTarget.checked)} />
            : <input type="text" name={f.name} value={values[f.name]} placeholder={f.placeholder || ''} onInput={(e) => set(f.name, e.currentTarget.value)} />}
        </label>
      ))}
      <button type="submit" disabled={busy}>{submit}</button>
      <ErrorBox error={error} />
      {done ? <p class="ok" role="status">done{done.name ? ': ' + done.name : ''}{done.version ? ' (version ' + done.version + ')' : ''}</p> : null}
    </form>
  );
}

// Puts optional text fields into `body` only when filled in (the SQL defaults apply otherwise).
function optional(body, values, names) {
  for (const n of names) if (values[n] !== '') body[n] = values[n];
  return body;
}

export function CreateForms({ catalog, onChanged }) {
  const entities = catalog.entities.map((e) => e.name);
  return (
    <section class="admin">
      <h1>Change the registry</h1>
      <p class="muted">Each form calls the registry function of the same name; versions, history and permissions apply as in SQL.</p>
      <RegistryForm id="create-entity" title="New entity (fstore.create_entity)" path="/entities" onDone={onChanged}
        fields={[{ name: 'name' }, { name: 'join_key', label: 'join key' }, { name: 'key_type', label: 'key type', initial: 'bigint' },
                 { name: 'description' }, { name: 'owner' }, { name: 'tags', placeholder: 'comma, separated' }]}
        build={(v) => optional({ name: v.name, join_key: v.join_key, key_type: v.key_type, tags: list(v.tags) }, v, ['description', 'owner'])} />
      <RegistryForm id="create-view" title="New feature view (fstore.create_feature_view)" path="/feature-views" onDone={onChanged}
        fields={[{ name: 'name' }, { name: 'entity', type: 'select', options: entities, initial: entities[0] || '' },
                 { name: 'features', label: 'features (JSON)', type: 'textarea', initial: '[{"name": "amount", "type": "float8", "validation": {"min": 0}}]' },
                 { name: 'ttl', placeholder: '1 day' }, { name: 'online', type: 'checkbox' },
                 { name: 'description' }, { name: 'owner' }, { name: 'tags', placeholder: 'comma, separated' }]}
        build={(v) => {
          let features;
          try { features = JSON.parse(v.features); } catch (e) { throw new Error('features is not valid JSON: ' + e.message); }
          return optional({ name: v.name, entity: v.entity, features, online: v.online, tags: list(v.tags) }, v, ['ttl', 'description', 'owner']);
        }} />
      <RegistryForm id="create-service" title="New feature service (fstore.create_feature_service)" path="/feature-services" onDone={onChanged}
        fields={[{ name: 'name' }, { name: 'features', placeholder: 'view:feature, view:*' }, { name: 'description' }, { name: 'owner' },
                 { name: 'tags', placeholder: 'comma, separated' }]}
        build={(v) => optional({ name: v.name, features: list(v.features), tags: list(v.tags) }, v, ['description', 'owner'])} />
      <p><a href={href.search()}>back to search</a></p>
    </section>
  );
}

export function AddFeaturesForm({ view, onDone }) {
  return (
    <RegistryForm id="add-features" title="Add features (fstore.add_features)" path={'/feature-views/' + encodeURIComponent(view) + '/features'}
      onDone={onDone} submit="Add"
      fields={[{ name: 'features', label: 'features (JSON)', type: 'textarea', initial: '[{"name": "new_feature", "type": "float8"}]' }]}
      build={(v) => {
        try { return { features: JSON.parse(v.features) }; } catch (e) { throw new Error('features is not valid JSON: ' + e.message); }
      }} />
  );
}

export function StatusForm({ feature, status, onDone }) {
  const i = feature.indexOf(':');
  const path = '/features/' + encodeURIComponent(feature.slice(0, i)) + '/' + encodeURIComponent(feature.slice(i + 1)) + '/status';
  return (
    <RegistryForm id="feature-status" title="Change the status (fstore.set_feature_status)" method="PUT" path={path} onDone={onDone}
      submit="Set status" fields={[{ name: 'status', type: 'select', options: ['draft', 'active', 'deprecated', 'archived'], initial: status }]}
      build={(v) => ({ status: v.status })} />
  );
}
