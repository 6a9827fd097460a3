// Statistics of a feature (GET /statistics/{view}: histogram, quantiles, nulls, top values) and
// its drift monitors over time with their thresholds (GET /monitoring). Charts are Chart.js canvases.
import { useEffect, useRef } from 'preact/hooks';
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip,
} from 'chart.js';
import { ErrorBox, fmtNum, fmtTime, useApi } from './util.jsx';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);

// A Chart.js chart on a canvas, rebuilt when `config` changes and destroyed with the element.
export function ChartCanvas({ config, label }) {
  const canvas = useRef(null);
  useEffect(() => {
    const chart = new Chart(canvas.current, { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false, ...config.options } });
    return () => chart.destroy();
  }, [config]);
  return <div class="chart"><canvas ref={canvas} role="img" aria-label={label} /></div>;
}

const QUANTILES = ['p01', 'p05', 'p25', 'p50', 'p75', 'p95', 'p99'];

function histogramConfig(h) {
  const labels = h.counts.map((_, i) => fmtNum(h.edges[i]) + ' – ' + fmtNum(h.edges[i + 1]));
  return { type: 'bar', data: { labels, datasets: [{ label: 'rows', data: h.counts, backgroundColor: '#4e79a7' }] },
           options: { plugins: { legend: { display: false } }, scales: { x: { ticks: { maxRotation: 60 } } } } };
}

export function FeatureStatistics({ view, feature }) {
  const [data, error] = useApi('/statistics/' + encodeURIComponent(view));
  if (error) return <ErrorBox error={error} />;
  if (!data) return <p class="muted">loading statistics…</p>;
  const s = data.features.find((f) => f.feature === feature);
  if (!s) return <p class="muted" data-stats="none">No statistics yet: run <code>SELECT fstore.compute_statistics('{view}');</code></p>;
  const nullPct = s.row_count ? (100 * s.null_count / s.row_count).toFixed(2) + '%' : '';
  return (
    <div class="stats" data-stats="present">
      <p class="muted">snapshot {s.snapshot_id}, computed {fmtTime(s.computed_at)} over {fmtTime(s.start_ts)} … {fmtTime(s.end_ts)}</p>
      <table class="numbers">
        <tbody>
          <tr><th>rows</th><td>{fmtNum(s.row_count)}</td><th>nulls</th><td>{fmtNum(s.null_count)} ({nullPct})</td><th>distinct</th><td>{fmtNum(s.distinct_count)}</td></tr>
          {s.mean !== null && s.mean !== undefined ? (
            <tr><th>mean</th><td>{fmtNum(s.mean)}</td><th>stddev</th><td>{fmtNum(s.stddev)}</td><th>min … max</th><td>{fmtNum(s.min)} … {fmtNum(s.max)}</td></tr>) : null}
        </tbody>
      </table>
      {s.quantiles ? (
        <table class="quantiles">
          <thead><tr>{QUANTILES.map((q) => <th key={q}>{q}</th>)}</tr></thead>
          <tbody><tr>{QUANTILES.map((q) => <td key={q}>{fmtNum(s.quantiles[q])}</td>)}</tr></tbody>
        </table>) : null}
      {s.histogram && s.histogram.counts ? <ChartCanvas config={histogramConfig(s.histogram)} label={'histogram of ' + feature} /> : null}
      {s.top_values && s.top_values.length ? (
        <table class="top-values">
          <thead><tr><th>top value</th><th>count</th></tr></thead>
          <tbody>{s.top_values.map((t, i) => <tr key={i}><td>{String(t.value)}</td><td>{fmtNum(t.count)}</td></tr>)}</tbody>
        </table>) : null}
    </div>
  );
}

function driftConfig(m) {
  const results = [...m.results].reverse();
  const labels = results.map((r) => fmtTime(r.at));
  return {
    type: 'line',
    data: { labels, datasets: [
      { label: m.metric, data: results.map((r) => r.value), borderColor: '#e15759', pointRadius: 2 },
      { label: 'threshold', data: results.map((r) => r.threshold), borderColor: '#888', borderDash: [4, 4], pointRadius: 0 },
    ] },
  };
}

export function MonitorList({ monitors }) {
  if (!monitors.length) return <p class="muted">no monitors</p>;
  return (
    <div class="monitors">
      {monitors.map((m) => (
        <div class={'monitor' + (m.alert ? ' alert' : '')} key={m.name} data-monitor={m.name}>
          <h3>{m.name} {m.alert ? <span class="status status-alert">ALERT</span> : <span class="status status-active">ok</span>}</h3>
          <p>{m.feature}: {m.metric} &gt; {fmtNum(m.threshold)} alerts; last value {fmtNum(m.last_value)} at {fmtTime(m.last_run_at)}
            {m.last_error ? <span class="error-text"> — {m.last_error}</span> : null}</p>
          {m.results.length ? <ChartCanvas config={driftConfig(m)} label={'drift of ' + m.feature} /> : <p class="muted">not run yet</p>}
        </div>
      ))}
    </div>
  );
}

export function FeatureMonitors({ feature }) {
  const [data, error] = useApi('/monitoring');
  if (error) return <ErrorBox error={error} />;
  if (!data) return <p class="muted">loading monitors…</p>;
  return <MonitorList monitors={data.monitors.filter((m) => m.feature === feature)} />;
}
