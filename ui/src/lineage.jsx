// The lineage graph (GET /lineage): entity -> view -> features -> derived features -> services ->
// training sets -> transform versions, and stream sources -> views. Laid out by dagre, drawn as
// SVG (every label a text node). Around a focus node it shows what feeds it and what it feeds;
// without one, everything but features (views stand for theirs) when the graph is large.
import dagre from '@dagrejs/dagre';
import { useMemo } from 'preact/hooks';
import { href } from './util.jsx';

const MAX_NODES = 400;
const NODE_H = 28;
const COLORS = { entity: '#f28e2b', feature_view: '#4e79a7', feature: '#76b7b2', feature_service: '#59a14f',
                 training_set: '#b07aa1', transform_version: '#9c755f', stream_source: '#e15759' };

// Every node connected to `focus` by a directed path either way.
function neighbourhood(graph, focus) {
  const out = new Map(), inc = new Map();
  for (const e of graph.edges) {
    (out.get(e.source) || out.set(e.source, []).get(e.source)).push(e.target);
    (inc.get(e.target) || inc.set(e.target, []).get(e.target)).push(e.source);
  }
  const keep = new Set([focus]);
  for (const adj of [out, inc]) {
    const todo = [focus];
    while (todo.length) for (const n of adj.get(todo.pop()) || []) if (!keep.has(n)) { keep.add(n); todo.push(n); }
  }
  return keep;
}

// The nodes and edges to draw: a neighbourhood, or the overview with features folded into views.
export function selectGraph(graph, focus) {
  let nodes = graph.nodes, edges = graph.edges;
  if (focus && nodes.some((n) => n.id === focus)) {
    const keep = neighbourhood(graph, focus);
    nodes = nodes.filter((n) => keep.has(n.id));
    edges = edges.filter((e) => keep.has(e.source) && keep.has(e.target));
  } else if (nodes.length > MAX_NODES) {
    const viewOf = new Map(nodes.filter((n) => n.type === 'feature').map((n) => [n.id, 'view:' + n.view]));
    nodes = nodes.filter((n) => n.type !== 'feature');
    const seen = new Set();
    edges = edges.map((e) => ({ ...e, source: viewOf.get(e.source) || e.source, target: viewOf.get(e.target) || e.target }))
      .filter((e) => e.source !== e.target && !seen.has(e.source + '>' + e.target) && seen.add(e.source + '>' + e.target));
  }
  const truncated = nodes.length > MAX_NODES;
  if (truncated) {
    nodes = nodes.slice(0, MAX_NODES);
    const ids = new Set(nodes.map((n) => n.id));
    edges = edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  }
  return { nodes, edges, truncated };
}

function layout(nodes, edges) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 8, ranksep: 60, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: Math.min(280, 20 + 7.5 * Math.min(36, String(n.name).length)), height: NODE_H });
  for (const e of edges) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return g;
}

// The page of a node, where it has one.
function nodeLink(n) {
  switch (n.type) {
    case 'entity': return href.entity(n.name);
    case 'feature_view': return href.view(n.name);
    case 'feature': return href.feature(n.view, n.name.slice(n.view.length + 1));
    case 'feature_service': return href.service(n.name);
    case 'transform_version': case 'training_set': return href.service(n.service);
    case 'stream_source': return href.view(n.view);
    default: return null;
  }
}

export function Lineage({ catalog, focus }) {
  const { nodes, edges, truncated } = useMemo(() => selectGraph(catalog.lineage, focus), [catalog, focus]);
  const g = useMemo(() => layout(nodes, edges), [nodes, edges]);
  const size = g.graph();
  return (
    <section class="lineage">
      <h1>Lineage {focus ? <span class="muted">around {focus}</span> : null}</h1>
      <p class="legend">
        {Object.entries(COLORS).map(([t, c]) => <span key={t} class="legend-item"><svg width="12" height="12"><rect width="12" height="12" fill={c} /></svg> {t.replace('_', ' ')}</span>)}
        {focus ? <a href={href.lineage()}>whole graph</a> : null}
      </p>
      {truncated ? <p class="muted">Only the first {MAX_NODES} nodes are drawn; open the lineage of one object to see all of its own.</p> : null}
      <div class="graph">
        <svg width={size.width || 100} height={size.height || 50} id="lineage-graph">
          <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#999" /></marker></defs>
          {g.edges().map((e) => {
            const pts = g.edge(e).points;
            return <path key={e.v + '>' + e.w} class="edge" d={'M' + pts.map((p) => p.x + ',' + p.y).join(' L')} marker-end="url(#arrow)" />;
          })}
          {nodes.map((n) => {
            const p = g.node(n.id);
            const link = nodeLink(n);
            const box = (
              <g class={'node' + (n.id === focus ? ' focus' : '')} data-node-id={n.id} data-node-type={n.type} transform={`translate(${p.x - p.width / 2},${p.y - p.height / 2})`}>
                <title>{n.type + ': ' + n.name}</title>
                <rect width={p.width} height={p.height} rx="5" fill={COLORS[n.type] || '#bab0ac'} />
                <text x="8" y={NODE_H / 2 + 4}>{String(n.name).length > 36 ? String(n.name).slice(0, 35) + '…' : n.name}</text>
              </g>
            );
            return link ? <a key={n.id} href={link}>{box}</a> : <g key={n.id}>{box}</g>;
          })}
        </svg>
      </div>
      <p class="muted">{nodes.length} nodes, {edges.length} edges of {catalog.lineage.nodes.length} and {catalog.lineage.edges.length}.</p>
    </section>
  );
}
