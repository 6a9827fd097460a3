// One page for whoever carries the pager: readiness (sync lag and queue, broken views), stream
// sources, monitor alerts and request rates per route. GET /ready and /metrics, GET /monitoring;
// refreshed every 5 seconds, rates from the difference of two /metrics samples.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { MonitorList } from './stats.jsx';
import { ErrorBox, fmtNum } from './util.jsx';

const REFRESH_MS = 5000;

// fstore_http_requests_total{route="...",status="..."} N  ->  [{route, status, total}]
export function parseRequestCounts(text) {
  const out = [];
  const re = /^fstore_http_requests_total\{route="([^"]*)",status="(\d+)"\} (\S+)$/gm;
  let m;
  while ((m = re.exec(text))) out.push({ route: m[1], status: m[2], total: Number(m[3]) });
  return out;
}

function gauge(text, name) {
  const m = new RegExp('^' + name + ' (\\S+)$', 'm').exec(text);
  return m ? Number(m[1]) : null;
}

async function readiness() {
  try { return { ok: true, body: await api('/ready') }; } catch (e) { return { ok: false, body: e.body, error: e }; }
}

export function Health() {
  const [state, setState] = useState(null);
  const prev = useRef(null);
  useEffect(() => {
    let live = true;
    async function tick() {
      const [ready, metrics, monitoring] = await Promise.all([
        readiness(), api('/metrics', { text: true }).catch((e) => ({ error: e })),
        api('/monitoring').catch((e) => ({ error: e }))]);
      if (!live) return;
      const now = Date.now();
      const counts = typeof metrics === 'string' ? parseRequestCounts(metrics) : [];
      const before = prev.current;
      const rates = counts.map((c) => {
        const old = before && before.counts.find((o) => o.route === c.route && o.status === c.status);
        return { ...c, rate: old ? (c.total - old.total) / ((now - before.at) / 1000) : null };
      });
      prev.current = { at: now, counts };
      setState({ ready, metrics, monitoring, rates });
    }
    tick();
    const timer = setInterval(tick, REFRESH_MS);
    return () => { live = false; clearInterval(timer); };
  }, []);
  if (!state) return <p class="muted">loading health…</p>;
  const { ready, metrics, monitoring, rates } = state;
  const body = ready.body || {};
  const sync = body.sync;
  const streams = body.streams || [];
  const text = typeof metrics === 'string' ? metrics : '';
  const alerts = monitoring.monitors ? monitoring.monitors.filter((m) => m.alert) : [];
  return (
    <section class="health">
      <h1>Health</h1>
      <div class={'ready ' + (ready.ok ? 'ok' : 'bad')} id="readiness">
        <h2>{ready.ok ? 'Ready' : 'Not ready'}</h2>
        {!ready.ok ? <ul>{((body.error && body.error.reasons) || [ready.error && ready.error.message]).map((r, i) => <li key={i}>{r}</li>)}</ul> : null}
      </div>
      <h2>Sync (PostgreSQL → Redis)</h2>
      {sync ? (
        <table class="numbers"><tbody>
          <tr><th>leader</th><td>{sync.leader ? 'this server' : 'another server'}</td><th>caught up</th><td>{sync.caught_up ? 'yes' : 'no'}</td></tr>
          <tr><th>queue depth</th><td>{fmtNum(sync.queue_depth)}</td><th>lag</th><td>{fmtNum(sync.lag_seconds)} s</td></tr>
          <tr><th>last error</th><td colSpan="3">{sync.last_error || 'none'}</td></tr>
          <tr><th>broken views</th><td colSpan="3">{sync.broken_views.length ? sync.broken_views.map((b) => b.view + ': ' + b.reason).join('; ') : 'none'}</td></tr>
        </tbody></table>)
        : <p class="muted">{text ? `queue depth ${fmtNum(gauge(text, 'fstore_sync_queue_depth'))}, lag ${fmtNum(gauge(text, 'fstore_sync_lag_seconds'))} s` : 'no sync worker in this server'}</p>}
      <h2>Stream sources</h2>
      {streams.length ? (
        <table><thead><tr><th>name</th><th>state</th><th>lag (messages)</th><th>partitions</th><th>last error</th></tr></thead>
          <tbody>{streams.map((s) => <tr key={s.name}><td>{s.name}</td><td>{s.state}</td><td>{fmtNum(s.lag)}</td><td>{s.partitions.join(', ')}</td><td>{s.last_error}</td></tr>)}</tbody>
        </table>) : <p class="muted">none</p>}
      <h2>Alerts</h2>
      {monitoring.error ? <ErrorBox error={monitoring.error} /> : alerts.length ? <MonitorList monitors={alerts} />
        : <p class="muted" id="no-alerts">no monitor is alerting ({(monitoring.monitors || []).length} monitors)</p>}
      <h2>Requests</h2>
      {metrics.error ? <ErrorBox error={metrics.error} /> : (
        <table class="requests"><thead><tr><th>route</th><th>status</th><th>total</th><th>per second</th></tr></thead>
          <tbody>{rates.map((r) => <tr key={r.route + r.status}><td>{r.route}</td><td>{r.status}</td><td>{fmtNum(r.total)}</td>
            <td>{r.rate === null ? '…' : r.rate.toFixed(2)}</td></tr>)}</tbody>
        </table>)}
    </section>
  );
}
