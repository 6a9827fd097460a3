// Small pieces shared by the pages: links, tags, tables, history, errors. Everything from the
// registry is rendered as text (Preact escapes it); no HTML is ever built from strings.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

// The hash route of an object page. Names travel percent-encoded, so any text is a safe link.
export const href = {
  search: (q) => '#/' + (q ? '?q=' + encodeURIComponent(q) : ''),
  entity: (n) => '#/entity/' + encodeURIComponent(n),
  view: (n) => '#/view/' + encodeURIComponent(n),
  feature: (v, f) => '#/feature/' + encodeURIComponent(v) + '/' + encodeURIComponent(f),
  service: (n) => '#/service/' + encodeURIComponent(n),
  lineage: (id) => '#/lineage' + (id ? '/' + encodeURIComponent(id) : ''),
  health: () => '#/health',
};

export function Tags({ tags }) {
  if (!tags || !tags.length) return <span class="muted">none</span>;
  return (
    <span class="tags">
      {tags.map((t) => <a class="tag" href={href.search('tag:' + t)} key={t}>{t}</a>)}
    </span>
  );
}

export function Status({ status }) {
  return <span class={'status status-' + String(status).replace(/[^a-z]/g, '')}>{status}</span>;
}

// A definition list of label -> value (values: text, or elements).
export function Meta({ rows }) {
  return (
    <dl class="meta">
      {rows.filter(([, v]) => v !== undefined).map(([k, v]) => [<dt key={k + 'k'}>{k}</dt>, <dd key={k + 'v'}>{v === null || v === '' ? <span class="muted">—</span> : v}</dd>])}
    </dl>
  );
}

// JSON shown as text, indented.
export function Json({ value }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  const hint = error.body && error.body.error && error.body.error.hint;
  return (
    <div class="error" role="alert">
      <strong>{error.status ? `HTTP ${error.status} ${error.code}` : error.code}</strong>: {error.message}
      {hint ? <div class="hint">hint: {hint}</div> : null}
    </div>
  );
}

// Loads `path` (re-loading when it or `key` changes): [data, error, reload].
export function useApi(path, key) {
  const [state, setState] = useState({ data: null, error: null });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState({ data: null, error: null });
    api(path).then((data) => live && setState({ data, error: null }), (error) => live && setState({ data: null, error }));
    return () => { live = false; };
  }, [path, key, n]);
  return [state.data, state.error, () => setN((x) => x + 1)];
}

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtNum(x) {
  if (x === null || x === undefined) return '';
  if (typeof x !== 'number') return String(x);
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  return Math.abs(x) >= 1e6 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toPrecision(5);
}

// A history row's detail: short ones inline, long ones (a view's whole definition) folded.
function Detail({ detail }) {
  if (!detail || !Object.keys(detail).length) return null;
  const s = JSON.stringify(detail);
  if (s.length <= 160) return <code>{s}</code>;
  return <details><summary><code>{s.slice(0, 120)}…</code></summary><pre class="json">{JSON.stringify(detail, null, 2)}</pre></details>;
}

// The registry history of one object, newest first (GET /history).
export function History({ type, name, refresh }) {
  const [data, error] = useApi('/history?object_type=' + encodeURIComponent(type) + '&object_name=' + encodeURIComponent(name), refresh);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <p class="muted">loading history…</p>;
  if (!data.history.length) return <p class="muted" data-history="loaded">no history</p>;
  return (
    <table class="history" data-history="loaded">
      <thead><tr><th>at</th><th>actor</th><th>action</th><th>version</th><th>detail</th></tr></thead>
      <tbody>
        {data.history.map((h, i) => (
          <tr key={i}>
            <td>{fmtTime(h.at)}</td><td>{h.actor}</td><td>{h.action}</td>
            <td>{h.old_version || h.new_version ? `${h.old_version || '∅'} → ${h.new_version || '∅'}` : ''}</td>
            <td><Detail detail={h.detail} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
