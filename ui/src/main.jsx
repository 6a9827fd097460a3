// The fstore web UI: a hash-routed single page over fstore-server's JSON API. Asks for a token
// when the server wants one (kept in sessionStorage, for this tab only) and loads the catalog once;
// registry changes reload it.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, canChangeRegistry, currentRole, getToken, loadCatalog, setToken, shows } from './api.js';
import { CreateForms } from './forms.jsx';
import { Health } from './health.jsx';
import { Lineage } from './lineage.jsx';
import { EntityPage, FeaturePage, ServicePage, ViewPage } from './pages.jsx';
import { Search } from './search.jsx';
import { ErrorBox, href } from './util.jsx';

// The current route from location.hash: [page, ...decoded parts], plus the search query.
function parseHash() {
  const h = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = h.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const q = new URLSearchParams(query).get('q') || '';
  return { parts, q };
}

function useHash() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function TokenForm({ error, onToken }) {
  const [value, setValue] = useState('');
  return (
    <form class="token-form" id="token-form" onSubmit={(e) => { e.preventDefault(); onToken(value.trim()); }}>
      <h1>fstore</h1>
      <p>This server needs an API token (<code>SELECT fstore.create_api_token('me', 'reader');</code>).
        It is kept for this browser tab only.</p>
      <label><span>token</span><input type="password" name="token" autocomplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} autofocus /></label>
      <button type="submit">Open the catalog</button>
      <ErrorBox error={error} />
    </form>
  );
}

function Nav({ onForget }) {
  return (
    <nav>
      <a class="brand" href={href.search()}>fstore</a>
      <a href={href.search()}>Search</a>
      <a href={href.lineage()}>Lineage</a>
      <a href={href.health()}>Health</a>
      {canChangeRegistry() ? <a href="#/new" id="nav-new">New…</a> : null}
      <span class="role" id="role">{currentRole() === 'no-auth' ? 'no auth' : currentRole()}</span>
      {getToken() ? <button type="button" class="link" onClick={onForget}>forget token</button> : null}
    </nav>
  );
}

function Page({ route, catalog, reload, query, setQuery }) {
  const [page, a, b] = route.parts;
  switch (page) {
    case 'entity': return <EntityPage catalog={catalog} name={a} />;
    case 'view': return <ViewPage catalog={catalog} name={a} onChanged={reload} />;
    case 'feature': return <FeaturePage catalog={catalog} view={a} name={b} onChanged={reload} />;
    case 'service': return <ServicePage catalog={catalog} name={a} />;
    case 'lineage': return <Lineage catalog={catalog} focus={a} />;
    case 'health': return <Health />;
    case 'new': return canChangeRegistry() ? <CreateForms catalog={catalog} onChanged={reload} /> : <p>Changing the registry needs an admin token.</p>;
    default: return <Search catalog={catalog} query={query} setQuery={setQuery} />;
  }
}

function App() {
  const route = useHash();
  const [catalog, setCatalog] = useState(null);
  const [error, setError] = useState(null);
  const [needToken, setNeedToken] = useState(false);
  const [query, setQueryState] = useState(route.q);
  useEffect(() => { if (route.q) setQueryState(route.q); }, [route.q]);
  const setQuery = (q) => { setQueryState(q); history.replaceState(null, '', href.search(q)); };

  // Loads the catalog; after a registry change (`answer`), again until it shows the change.
  async function reload(answer) {
    try {
      let c = await loadCatalog();
      for (let i = 0; answer && !shows(c, answer) && i < 25; ++i) {
        await new Promise((r) => setTimeout(r, 200));
        c = await loadCatalog();
      }
      setCatalog(c);
      setError(null);
      setNeedToken(false);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { setNeedToken(true); setError(getToken() ? e : null); }
      else setError(e);
    }
  }
  useEffect(() => { reload(); }, []);
  const changed = (answer) => reload(answer);

  if (needToken) return <TokenForm error={error} onToken={(t) => { setToken(t); reload(); }} />;
  const forget = () => { setToken(''); setCatalog(null); setNeedToken(true); };
  return (
    <div class="shell">
      <Nav onForget={forget} />
      <main>
        <ErrorBox error={error} />
        {catalog ? <Page route={route} catalog={catalog} reload={changed} query={query} setQuery={setQuery} />
          : route.parts[0] === 'health' ? <Health /> : error ? null : <p class="muted">loading the catalog…</p>}
      </main>
    </div>
  );
}

const root = document.getElementById('app');
root.textContent = '';  // the static 'Loading' line
render(<App />, root);
