// Catalog search across entities, views, features and services: free text matches name,
// description, tags and owner; `tag:x`, `owner:x`, `status:x` and `type:x` narrow it. With 10,000
// features the index is built once per catalog and at most MAX_SHOWN rows are drawn.
import { useMemo } from 'preact/hooks';
import { href, Status, Tags } from './util.jsx';

const MAX_SHOWN = 200;
const TYPES = ['entity', 'view', 'feature', 'service'];

// One searchable row per object, with its lower-cased text.
function buildIndex(catalog) {
  const rows = [];
  const add = (type, name, link, o, extra = '') => rows.push({
    type, name, link, description: o.description || '', owner: o.owner || '', tags: o.tags || [],
    status: o.status || '', text: [name, o.description, o.owner, (o.tags || []).join(' '), extra].join(' ').toLowerCase(),
    tagSet: new Set((o.tags || []).map((t) => t.toLowerCase())),
  });
  for (const e of catalog.entities) add('entity', e.name, href.entity(e.name), e, e.join_key);
  for (const v of catalog.views) add('view', v.name, href.view(v.name), v, v.entity);
  for (const f of catalog.features) add('feature', f.view + ':' + f.name, href.feature(f.view, f.name), f, f.type);
  for (const s of catalog.services) add('service', s.name, href.service(s.name), s);
  return rows;
}

// Splits the query into qualifiers (tag:, owner:, status:, type:) and free words.
export function parseQuery(q) {
  const out = { words: [], tag: [], owner: [], status: [], type: [] };
  for (const part of q.trim().toLowerCase().split(/\s+/).filter(Boolean)) {
    const m = /^(tag|owner|status|type):(.*)$/.exec(part);
    if (m && m[2]) out[m[1]].push(m[2]);
    else out.words.push(part);
  }
  return out;
}

function matches(row, p) {
  if (p.type.length && !p.type.some((t) => row.type.startsWith(t))) return false;
  if (p.status.length && !p.status.includes(row.status)) return false;
  if (p.tag.length && !p.tag.every((t) => row.tagSet.has(t))) return false;
  if (p.owner.length && !p.owner.some((o) => row.owner.toLowerCase().includes(o))) return false;
  return p.words.every((w) => row.text.includes(w));
}

export function Search({ catalog, query, setQuery }) {
  const index = useMemo(() => buildIndex(catalog), [catalog]);
  const parsed = parseQuery(query);
  const hits = useMemo(() => index.filter((r) => matches(r, parsed)), [index, query]);
  const counts = Object.fromEntries(TYPES.map((t) => [t, hits.filter((h) => h.type === t).length]));
  return (
    <section class="search">
      <h1>Search the catalog</h1>
      <input id="search" type="search" placeholder="name, description, tag, owner… or tag:pii owner:alice status:active type:feature"
             value={query} onInput={(e) => setQuery(e.currentTarget.value)} autofocus aria-label="search" />
      <p class="counts">
        {hits.length.toLocaleString('en-US')} match{hits.length === 1 ? '' : 'es'}:{' '}
        {TYPES.map((t) => <span key={t} class="count">{counts[t].toLocaleString('en-US')} {t}{counts[t] === 1 ? '' : 's'} </span>)}
        {hits.length > MAX_SHOWN ? <span class="muted">(first {MAX_SHOWN} shown; narrow the search)</span> : null}
      </p>
      <table class="results" data-query={query}>
        <thead><tr><th>type</th><th>name</th><th>description</th><th>tags</th><th>owner</th><th>status</th></tr></thead>
        <tbody>
          {hits.slice(0, MAX_SHOWN).map((r) => (
            <tr key={r.type + r.name} class="result" data-type={r.type}>
              <td>{r.type}</td><td><a href={r.link}>{r.name}</a></td><td class="desc">{r.description}</td>
              <td><Tags tags={r.tags} /></td><td>{r.owner}</td><td>{r.status ? <Status status={r.status} /> : null}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
