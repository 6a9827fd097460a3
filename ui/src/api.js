// The JSON API of fstore-server as the UI uses it. The token is entered once and kept in
// sessionStorage: for this tab only, gone when it closes. Errors carry the server's message as it is.

const TOKEN_KEY = 'fstore.token';

export function getToken() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(t) { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); }

// The role the server reported for our token (X-Fstore-Role), '' until a catalog call answered.
let role = '';
export function currentRole() { return role; }
// True when the registry forms are offered: an admin token, or a server started with --no-auth.
export function canChangeRegistry() { return role === 'admin' || role === 'no-auth'; }

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

// Calls the API; resolves to the parsed JSON (or text for /metrics), rejects with ApiError.
export async function api(path, { method = 'GET', body, text = false } = {}) {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', `fstore-server cannot be reached: ${e.message}`);
  }
  const r = res.headers.get('X-Fstore-Role');
  if (r) role = r;
  const raw = await res.text();
  if (res.ok) return text ? raw : JSON.parse(raw);
  let parsed = null;
  try { parsed = JSON.parse(raw); } catch { /* not JSON */ }
  const err = parsed && parsed.error ? parsed.error : { code: 'http_' + res.status, message: raw || res.statusText };
  throw new ApiError(res.status, err.code, err.message, parsed);
}

// True when `catalog` already shows the object a registry change answered (fstore-server
// reloads its registry snapshot, which /groups serves, a moment after the change).
export function shows(catalog, answer) {
  if (!answer || !answer.name) return true;
  if (answer.join_key !== undefined) return catalog.entities.some((e) => e.name === answer.name);
  if (answer.status !== undefined && answer.view !== undefined) {
    const v = catalog.views.find((x) => x.name === answer.view);
    return !!v && v.features.some((f) => f.name === answer.name && f.status === answer.status);
  }
  if (answer.entity !== undefined) return catalog.views.some((v) => v.name === answer.name && v.version === answer.version);
  return catalog.services.some((s) => s.name === answer.name);
}

// The registry as one object: views (with features), services, entities and the lineage graph.
export async function loadCatalog() {
  const [groups, lineage] = await Promise.all([api('/groups'), api('/lineage')]);
  const entities = lineage.nodes.filter((n) => n.type === 'entity');
  const features = [];
  for (const v of groups.groups) for (const f of v.features) features.push(f);
  return { views: groups.groups, services: groups.feature_services, entities, features, lineage };
}
