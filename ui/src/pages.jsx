// A page per entity, feature view, feature and service: metadata, validation, expression,
// status and version history, with the statistics, monitors and forms that belong to them.
import { canChangeRegistry } from './api.js';
import { AddFeaturesForm, StatusForm } from './forms.jsx';
import { FeatureStatistics, FeatureMonitors } from './stats.jsx';
import { fmtTime, History, href, Json, Meta, Status, Tags } from './util.jsx';

function NotFound({ what, name }) {
  return <section><h1>{what} not found</h1><p>There is no {what} named <code>{name}</code>.</p><a href={href.search()}>back to search</a></section>;
}

function Links({ items }) {
  if (!items.length) return <span class="muted">none</span>;
  return <ul class="links">{items.map(([text, link]) => <li key={link}><a href={link}>{text}</a></li>)}</ul>;
}

export function EntityPage({ catalog, name }) {
  const e = catalog.entities.find((x) => x.name === name);
  if (!e) return <NotFound what="entity" name={name} />;
  const views = catalog.views.filter((v) => v.entity === name);
  return (
    <section class="page" data-page="entity">
      <h1><span class="kind">entity</span> {e.name}</h1>
      <p class="description">{e.description}</p>
      <Meta rows={[['join key', e.join_key], ['key type', e.key_type], ['owner', e.owner], ['tags', <Tags tags={e.tags} />],
                   ['created', fmtTime(e.created_at)], ['updated', fmtTime(e.updated_at)]]} />
      <h2>Feature views</h2>
      <Links items={views.map((v) => [v.name, href.view(v.name)])} />
      <p><a href={href.lineage('entity:' + e.name)}>lineage</a></p>
      <h2>History</h2>
      <History type="entity" name={e.name} />
    </section>
  );
}

export function ViewPage({ catalog, name, onChanged }) {
  const v = catalog.views.find((x) => x.name === name);
  if (!v) return <NotFound what="feature view" name={name} />;
  const streams = catalog.lineage.nodes.filter((n) => n.type === 'stream_source' && n.view === name);
  return (
    <section class="page" data-page="view">
      <h1><span class="kind">feature view</span> {v.name} <span class="version">v{v.version}</span></h1>
      <p class="description">{v.description}</p>
      <Meta rows={[['entity', <a href={href.entity(v.entity)}>{v.entity}</a>], ['offline table', v.table_name],
                   ['ttl', v.ttl || 'none'], ['online', v.online ? 'yes' : 'no'], ['owner', v.owner],
                   ['tags', <Tags tags={v.tags} />], ['stream sources', streams.length ? streams.map((s) => s.name).join(', ') : 'none'],
                   ['created', fmtTime(v.created_at)], ['updated', fmtTime(v.updated_at)]]} />
      <p><a href={href.lineage('view:' + v.name)}>lineage</a></p>
      <h2>Features ({v.features.length})</h2>
      <table class="features">
        <thead><tr><th>name</th><th>type</th><th>status</th><th>description</th><th>validation</th><th>expression</th></tr></thead>
        <tbody>
          {v.features.map((f) => (
            <tr key={f.name}>
              <td><a href={href.feature(v.name, f.name)}>{f.name}</a></td><td>{f.type}</td><td><Status status={f.status} /></td>
              <td class="desc">{f.description}</td>
              <td><code>{f.validation && Object.keys(f.validation).length ? JSON.stringify(f.validation) : ''}</code></td>
              <td><code>{f.expression || ''}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
      {canChangeRegistry() ? <AddFeaturesForm view={v.name} onDone={onChanged} /> : null}
      <h2>History</h2>
      <History type="feature_view" name={v.name} refresh={v.version} />
    </section>
  );
}

export function FeaturePage({ catalog, view, name, onChanged }) {
  const v = catalog.views.find((x) => x.name === view);
  const f = v && v.features.find((x) => x.name === name);
  if (!f) return <NotFound what="feature" name={view + ':' + name} />;
  const ref = view + ':' + name;
  const services = catalog.services.filter((s) => s.features.includes(ref) || s.features.includes(view + ':*'));
  const derivedFrom = catalog.lineage.edges.filter((e) => e.kind === 'derives' && e.target === 'feature:' + ref).map((e) => e.source.slice(8));
  return (
    <section class="page" data-page="feature">
      <h1><span class="kind">feature</span> {ref} <Status status={f.status} /></h1>
      <p class="description">{f.description}</p>
      <Meta rows={[['view', <a href={href.view(view)}>{view}</a>], ['entity', <a href={href.entity(f.entity)}>{f.entity}</a>],
                   ['type', f.type], ['status', <Status status={f.status} />], ['version', f.version], ['owner', f.owner],
                   ['tags', <Tags tags={f.tags} />], ['expression', f.expression ? <code>{f.expression}</code> : 'none (a stored feature)'],
                   ['computed from', derivedFrom.length ? derivedFrom.join(', ') : undefined],
                   ['services', services.length ? services.map((s) => s.name).join(', ') : 'none'],
                   ['created', fmtTime(f.created_at)], ['updated', fmtTime(f.updated_at)]]} />
      <h2>Validation</h2>
      {f.validation && Object.keys(f.validation).length ? <Json value={f.validation} /> : <p class="muted">no rules</p>}
      {canChangeRegistry() ? <StatusForm feature={ref} status={f.status} onDone={onChanged} /> : null}
      <p><a href={href.lineage('feature:' + ref)}>lineage</a></p>
      <h2>Statistics</h2>
      <FeatureStatistics view={view} feature={name} />
      <h2>Drift monitors</h2>
      <FeatureMonitors feature={ref} />
      <h2>History of this feature</h2>
      <History type="feature" name={ref} refresh={f.version} />
      <h2>Versions of its view</h2>
      <History type="feature_view" name={view} refresh={v.version} />
    </section>
  );
}

export function ServicePage({ catalog, name }) {
  const s = catalog.services.find((x) => x.name === name);
  if (!s) return <NotFound what="feature service" name={name} />;
  const versions = catalog.lineage.nodes.filter((n) => n.type === 'transform_version' && n.service === name);
  return (
    <section class="page" data-page="service">
      <h1><span class="kind">feature service</span> {s.name}</h1>
      <p class="description">{s.description}</p>
      <Meta rows={[['owner', s.owner], ['tags', <Tags tags={s.tags} />], ['version', s.version],
                   ['created', fmtTime(s.created_at)], ['updated', fmtTime(s.updated_at)]]} />
      <h2>Features ({s.features.length})</h2>
      <Links items={s.features.map((r) => {
        const [v, f] = [r.slice(0, r.indexOf(':')), r.slice(r.indexOf(':') + 1)];
        return [r, f === '*' ? href.view(v) : href.feature(v, f)];
      })} />
      <h2>Transformations</h2>
      {s.transforms && Object.keys(s.transforms).length ? <Json value={s.transforms} /> : <p class="muted">none</p>}
      <h2>Fitted versions</h2>
      {versions.length ? (
        <table><thead><tr><th>version</th><th>fitted at</th><th>rows</th></tr></thead>
          <tbody>{versions.map((t) => <tr key={t.id}><td>{t.version}</td><td>{fmtTime(t.fitted_at)}</td><td>{t.row_count}</td></tr>)}</tbody>
        </table>) : <p class="muted">none</p>}
      <p><a href={href.lineage('service:' + s.name)}>lineage</a></p>
      <h2>History</h2>
      <History type="feature_service" name={s.name} />
    </section>
  );
}
