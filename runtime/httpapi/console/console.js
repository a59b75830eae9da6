// The console of a taskwire service: a page over the service's own HTTP
// API. It holds no data and no secret of its own: everything it shows comes
// from the API with the credential the user enters, which is kept in this
// tab's sessionStorage only (never in a URL, a cookie or localStorage), so
// that the API's authentication, ACLs, rate limits and audit log apply to
// every call exactly as they do to any client.
'use strict';

(() => {
  const STORE = 'taskwire.credential';
  const STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];
  const SYMBOL = { pending: '○', running: '◔', succeeded: '✓', failed: '✗', cancelled: '⊘' };
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const signOutButton = document.getElementById('sign-out');
  const announcer = document.getElementById('announce');

  let config = { title: 'Console', auth: ['api_key'], api_key_header: 'X-API-Key' };
  let view = null; // the AbortController of the view on screen
  let openapi = null; // the API document, once fetched

  // ------------------------------------------------------------ helpers

  // h makes an element; attributes named on* become listeners, and no
  // attribute is ever "style" (the page's CSP allows no inline style).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.setAttribute('class', v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
  }

  // inline turns a line of text into nodes, `code` spans as <code>.
  function inline(text) {
    return String(text || '').split('`').map((part, i) => (i % 2 ? h('code', {}, part) : part));
  }

  // prose turns a description into paragraphs.
  function prose(text) {
    return String(text || '').split(/\n\n+/).filter(Boolean).map((para) => h('p', {}, inline(para)));
  }

  function announce(text) {
    announcer.textContent = '';
    setTimeout(() => { announcer.textContent = text; }, 30);
  }

  function statusBadge(status, extra) {
    const st = STATUSES.includes(status) ? status : 'pending';
    return h('span', { class: `status status-${st} ${extra || ''}`, 'data-status': status },
      h('span', { 'aria-hidden': 'true' }, SYMBOL[st] || '?'), status);
  }

  function when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function duration(fromIso, toIso) {
    if (!fromIso) return '—';
    const ms = (toIso ? new Date(toIso) : new Date()) - new Date(fromIso);
    if (!(ms >= 0)) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    const m = Math.floor(ms / 60000);
    return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
  }

  const enc = encodeURIComponent;

  function setTitle(what) {
    document.title = what ? `${what} · ${config.title}` : config.title;
  }

  // focusHeading moves the focus to the view's heading, so that keyboard
  // and screen-reader users start at the new content.
  function focusHeading() {
    const h1 = main.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus({ preventScroll: false });
    }
  }

  // ------------------------------------------------------------ credential

  function credential() {
    try {
      const raw = sessionStorage.getItem(STORE);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  function authHeaders(cred) {
    const headers = {};
    if (!cred) return headers;
    if (cred.method === 'jwt') headers.Authorization = `Bearer ${cred.value}`;
    else headers[config.api_key_header || 'X-API-Key'] = cred.value;
    return headers;
  }

  // Thrown by api() after a 401: the view stops, the sign-in shows.
  class SignedOut extends Error {}

  // Problem is an API error (an RFC 9457 problem detail).
  class Problem extends Error {
    constructor(status, body) {
      super((body && body.detail) || `${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function problemOf(res) {
    try {
      return await res.json();
    } catch {
      return { status: res.status, title: res.statusText, detail: `${res.status} ${res.statusText}` };
    }
  }

  // api calls the API with the signed-in credential. A 401 forgets the
  // credential and returns to the sign-in with the server's message.
  async function api(path, opts = {}, cred = credential()) {
    const headers = Object.assign({}, authHeaders(cred), opts.headers || {});
    const res = await fetch(path, Object.assign({}, opts, { headers, credentials: 'omit', cache: 'no-store', redirect: 'error' }));
    if (res.status === 401 && needsAuth()) {
      const p = await problemOf(res);
      signOut(p.detail || 'Not authenticated', true);
      throw new SignedOut(p.detail);
    }
    return res;
  }

  async function apiJSON(path, opts = {}) {
    const res = await api(path, opts);
    if (!res.ok) throw new Problem(res.status, await problemOf(res));
    return res.json();
  }

  function needsAuth() {
    return Array.isArray(config.auth) && config.auth.length > 0;
  }

  function signOut(message, failed) {
    sessionStorage.removeItem(STORE);
    if (view) view.abort();
    showSignIn(message, failed);
  }

  // ------------------------------------------------------------ chrome

  function chrome(signedIn) {
    nav.hidden = !signedIn;
    signOutButton.hidden = !(signedIn && needsAuth());
    const cred = credential();
    who.textContent = signedIn && cred ? (cred.method === 'jwt' ? 'Signed in with a bearer token' : 'Signed in with an API key') : '';
  }

  function markNav(which) {
    for (const a of nav.querySelectorAll('a[data-nav]')) {
      if (a.dataset.nav === which) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function mount(...children) {
    main.replaceChildren();
    append(main, children);
  }

  function errorBox(err) {
    if (err instanceof Problem) {
      const p = err.body;
      const box = h('div', { class: 'error', role: 'alert' }, h('strong', {}, `${err.status} ${p.title || ''}`.trim()), ': ', p.detail || '');
      if (Array.isArray(p.errors) && p.errors.length) {
        box.append(h('ul', {}, p.errors.map((e) => h('li', {}, h('code', {}, e.path || '(body)'), ': ', e.message))));
      }
      return box;
    }
    return h('div', { class: 'error', role: 'alert' }, String(err && err.message ? err.message : err));
  }

  // ------------------------------------------------------------ sign-in

  function showSignIn(message, failed) {
    chrome(false);
    markNav('');
    setTitle('Sign in');
    const methods = config.auth || [];
    const error = h('div', { class: failed ? 'error' : 'notice', role: failed ? 'alert' : 'status', id: 'signin-message' }, message || '');
    const fields = [];
    if (methods.includes('api_key')) {
      fields.push(
        h('label', { for: 'api-key' }, 'API key'),
        h('span', { class: 'hint', id: 'api-key-hint' }, `Sent in the ${config.api_key_header || 'X-API-Key'} header.`),
        h('input', { id: 'api-key', name: 'api_key', type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'api-key-hint' }));
    }
    if (methods.includes('api_key') && methods.includes('jwt')) fields.push(h('p', { class: 'or' }, 'or'));
    if (methods.includes('jwt')) {
      fields.push(
        h('label', { for: 'bearer-token' }, 'Bearer token'),
        h('span', { class: 'hint', id: 'bearer-hint' }, 'A JSON Web Token, sent as Authorization: Bearer.'),
        h('input', { id: 'bearer-token', name: 'bearer_token', type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'bearer-hint' }));
    }
    const form = h('form', { novalidate: true, onsubmit: (ev) => { ev.preventDefault(); signIn(form, error); } },
      fields,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Sign in')));
    mount(h('section', { class: 'signin panel', 'aria-labelledby': 'signin-title' },
      h('h1', { id: 'signin-title' }, `Sign in to ${config.title}`),
      h('p', { class: 'lead' }, 'The credential stays in this browser tab (session storage) and is sent with each request to the API; closing the tab or signing out forgets it.'),
      error, form));
    const first = form.querySelector('input');
    if (first) first.focus();
    main.dataset.rendered = 'sign-in';
  }

  async function signIn(form, error) {
    const key = form.querySelector('#api-key');
    const token = form.querySelector('#bearer-token');
    const k = key ? key.value.trim() : '';
    const t = token ? token.value.trim() : '';
    const fail = (msg) => {
      error.className = 'error';
      error.setAttribute('role', 'alert');
      error.textContent = msg;
    };
    if (k && t) return fail('Enter an API key or a bearer token, not both.');
    if (!k && !t) return fail(key ? 'Enter an API key.' : 'Enter a bearer token.');
    const cred = k ? { method: 'api_key', value: k } : { method: 'jwt', value: t };
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      // The credential is tried before it is kept: a wrong one is never stored.
      const res = await fetch('/pipelines', { headers: authHeaders(cred), credentials: 'omit', cache: 'no-store', redirect: 'error' });
      if (!res.ok) {
        const p = await problemOf(res);
        fail(p.detail ? `${p.title || res.status}: ${p.detail}` : `${res.status} ${res.statusText}`);
        (key && !t ? key : token).setAttribute('aria-invalid', 'true');
        return;
      }
      sessionStorage.setItem(STORE, JSON.stringify(cred));
      announce('Signed in.');
      route();
    } catch (err) {
      fail(`The API did not answer: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------ router

  // Routes are in the fragment (#/pipelines/ID, #/runs?status=failed, ...),
  // which never reaches the server and never holds a credential.
  function parseHash() {
    const hash = location.hash.replace(/^#/, '');
    if (!hash.startsWith('/')) return { parts: [], query: new URLSearchParams() };
    const [path, q] = hash.split('?');
    return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q || '') };
  }

  async function route() {
    if (view) view.abort();
    view = new AbortController();
    const signal = view.signal;
    const hash = location.hash || '#/';
    // data-rendered names the route on screen once it is complete (tests
    // and assistive scripts wait for it).
    delete main.dataset.rendered;
    if (needsAuth() && !credential()) {
      showSignIn('');
      return;
    }
    chrome(true);
    const { parts, query } = parseHash();
    try {
      if (parts.length === 0) await pipelinesView(signal);
      else if (parts[0] === 'pipelines' && parts.length === 2) await pipelineView(parts[1], signal);
      else if (parts[0] === 'runs' && parts.length === 1) await runsView(query, signal);
      else if (parts[0] === 'runs' && parts.length === 2) await runView(parts[1], signal);
      else if (parts[0] === 'dead-letters' && parts.length === 1) await deadLettersView(query, signal);
      else if (parts[0] === 'docs') await docsView(signal);
      else {
        markNav('');
        mount(h('h1', {}, 'Not found'), h('p', {}, 'The console has no such page. ', h('a', { href: '#/' }, 'See the pipelines')));
      }
      focusHeading();
    } catch (err) {
      if (err instanceof SignedOut || signal.aborted) return;
      mount(h('h1', {}, 'Something went wrong'), errorBox(err));
      focusHeading();
    }
    if (!signal.aborted) main.dataset.rendered = hash;
  }

  // ------------------------------------------------------------ pipelines

  async function pipelinesView(signal) {
    markNav('pipelines');
    setTitle('Pipelines');
    const { pipelines } = await apiJSON('/pipelines', { signal });
    const list = pipelines.length
      ? h('ul', { class: 'pipelines', 'aria-label': 'Pipelines you may read' },
        pipelines.map((id) => h('li', {}, h('a', { href: `#/pipelines/${enc(id)}` }, id))))
      : h('p', { class: 'notice', role: 'status' }, 'This credential may read no pipeline.');
    mount(h('h1', {}, 'Pipelines'),
      h('p', { class: 'lead' }, pipelines.length === 1 ? 'One pipeline this credential may read.' : `${pipelines.length} pipelines this credential may read.`),
      list);
  }

  // fetchGraph returns the pipeline's graph as an inline SVG element.
  async function fetchGraph(id, signal) {
    const res = await api(`/pipelines/${enc(id)}/graph?format=svg`, { signal });
    if (!res.ok) throw new Problem(res.status, await problemOf(res));
    const doc = new DOMParser().parseFromString(await res.text(), 'image/svg+xml');
    const svg = doc.documentElement;
    if (svg.localName !== 'svg' || doc.getElementsByTagName('parsererror').length) throw new Error('the graph is not an SVG image');
    // The server's drawing has neither; a page never inlines them anyway.
    for (const bad of svg.querySelectorAll('script, foreignObject')) bad.remove();
    return document.importNode(svg, true);
  }

  async function pipelineView(id, signal) {
    markNav('pipelines');
    setTitle(id);
    const [p, graph, runs] = await Promise.all([
      apiJSON(`/pipelines/${enc(id)}`, { signal }),
      fetchGraph(id, signal),
      apiJSON(`/runs?pipeline_id=${enc(id)}&limit=10`, { signal }),
    ]);
    const canExecute = (p.actions || []).includes('execute');
    const parts = [
      h('h1', {}, h('span', { class: 'path' }, p.id)),
      p.description ? h('p', { class: 'lead' }, p.description) : null,
      h('section', { class: 'panel', 'aria-labelledby': 'graph-title' },
        h('h2', { id: 'graph-title' }, 'Graph'),
        h('figure', { class: 'graph' }, graph, h('figcaption', { class: 'muted' },
          `${p.inputs.length} input${p.inputs.length === 1 ? '' : 's'}, ${p.tasks.length} task${p.tasks.length === 1 ? '' : 's'}: `,
          p.tasks.map((t) => t.name).join(' → '))),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Your actions'), h('dd', {}, (p.actions || []).join(', ') || 'none'),
          p.timeout ? [h('dt', {}, 'Timeout'), h('dd', {}, p.timeout)] : null,
          p.rate_limit ? [h('dt', {}, 'Rate limit'), h('dd', {}, p.rate_limit)] : null)),
      h('section', { class: 'panel', 'aria-labelledby': 'run-title' },
        h('h2', { id: 'run-title' }, canExecute ? 'Start a run' : 'Inputs'),
        executeForm(p, canExecute, signal)),
      h('section', { class: 'panel', 'aria-labelledby': 'recent-title' },
        h('h2', { id: 'recent-title' }, 'Recent runs'),
        runsTable(runs.runs, false),
        h('p', {}, h('a', { href: `#/runs?pipeline_id=${enc(id)}` }, `All runs of ${id}`))),
    ];
    mount(parts);
  }

  // inputControl is the labelled field of one pipeline input.
  function inputControl(f, i, enabled) {
    const id = `input-${i}`;
    const hintID = `${id}-hint`;
    const type = f.type;
    const hint = `${type}${f.required ? ', required' : ', optional'}`;
    const common = { id, name: f.name, 'aria-describedby': hintID, disabled: !enabled, 'data-input': f.name, 'data-type': type };
    let control;
    let kind = 'json';
    if (type === 'string' || type === 'time' || type === 'bytes') {
      kind = 'string';
      control = h('input', Object.assign({ type: 'text', required: f.required, placeholder: type === 'time' ? '2026-01-02T15:04:05Z' : null }, common));
    } else if (type === 'int' || type === 'int64' || type === 'float64') {
      kind = 'number';
      control = h('input', Object.assign({ type: 'number', step: type === 'float64' ? 'any' : '1', required: f.required }, common));
    } else if (type === 'bool') {
      kind = 'bool';
      control = h('select', common, f.required ? null : h('option', { value: '' }, '(not set)'),
        h('option', { value: 'false' }, 'false'), h('option', { value: 'true' }, 'true'));
    } else {
      control = h('textarea', Object.assign({ rows: 4, spellcheck: 'false', placeholder: 'JSON' }, common));
    }
    control.dataset.kind = kind;
    return [
      h('label', { for: id }, f.name),
      h('span', { class: 'hint', id: hintID }, kind === 'json' ? `${hint} (as JSON)` : hint),
      control,
    ];
  }

  function readInputs(form) {
    const body = {};
    const problems = [];
    for (const el of form.querySelectorAll('[data-input]')) {
      el.removeAttribute('aria-invalid');
      const name = el.dataset.input;
      const raw = el.value;
      if (raw === '') continue; // absent: the server says whether that is allowed
      switch (el.dataset.kind) {
        case 'string':
          body[name] = raw;
          break;
        case 'number':
          body[name] = Number(raw);
          break;
        case 'bool':
          body[name] = raw === 'true';
          break;
        default:
          try {
            body[name] = JSON.parse(raw);
          } catch (err) {
            el.setAttribute('aria-invalid', 'true');
            problems.push({ path: name, message: `not valid JSON: ${err.message}` });
          }
      }
    }
    return { body, problems };
  }

  function executeForm(p, canExecute, signal) {
    const result = h('div', { 'aria-live': 'polite' });
    const fields = p.inputs.map((f, i) => inputControl(f, i, canExecute));
    const form = h('form', {
      novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        if (!canExecute) return;
        const { body, problems } = readInputs(form);
        if (problems.length) {
          result.replaceChildren(errorBox(new Problem(400, { title: 'Bad Request', detail: 'some inputs are not valid', errors: problems })));
          return;
        }
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        try {
          const res = await api(`/pipelines/${enc(p.id)}/execute`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal });
          const v = res.ok ? await res.json() : await problemOf(res);
          if (!res.ok) {
            for (const e of v.errors || []) {
              const el = form.querySelector(`[data-input="${CSS.escape((e.path || '').split(/[.[]/)[0])}"]`);
              if (el) el.setAttribute('aria-invalid', 'true');
            }
            result.replaceChildren(errorBox(new Problem(res.status, v)));
            return;
          }
          announce(`Run ${v.run_id} started.`);
          location.hash = `#/runs/${enc(v.run_id)}`;
        } catch (err) {
          if (!(err instanceof SignedOut) && !signal.aborted) result.replaceChildren(errorBox(err));
        } finally {
          button.disabled = false;
        }
      },
    },
    p.inputs.length ? fields : h('p', { class: 'muted' }, 'This pipeline takes no input.'),
    canExecute
      ? h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Execute'))
      : h('p', { class: 'notice' }, 'This credential may not execute this pipeline.'),
    result);
    return form;
  }

  function runsTable(runs, withPipeline) {
    if (!runs.length) return h('p', { class: 'muted' }, 'No runs.');
    return h('table', {},
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Run'),
        withPipeline ? h('th', { scope: 'col' }, 'Pipeline') : null,
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Started'),
        h('th', { scope: 'col' }, 'Duration'))),
      h('tbody', {}, runs.map((r) => h('tr', {},
        h('td', {}, h('a', { href: `#/runs/${enc(r.run_id)}`, class: 'path' }, r.run_id)),
        withPipeline ? h('td', {}, h('a', { href: `#/pipelines/${enc(r.pipeline_id)}` }, r.pipeline_id)) : null,
        h('td', {}, statusBadge(r.status)),
        h('td', { class: 'num' }, when(r.started_at || r.created_at)),
        h('td', { class: 'num' }, r.started_at ? duration(r.started_at, r.finished_at) : '—')))));
  }

  // ------------------------------------------------------------ runs

  async function runsView(query, signal) {
    markNav('runs');
    setTitle('Runs');
    const pipelineID = query.get('pipeline_id') || '';
    const status = query.get('status') || '';
    const cursor = query.get('cursor') || '';
    const previous = query.getAll('back'); // the cursors of the pages before ('' for the first), for Previous
    const q = new URLSearchParams({ limit: '20' });
    if (pipelineID) q.set('pipeline_id', pipelineID);
    if (status) q.set('status', status);
    if (cursor) q.set('cursor', cursor);
    const [page, { pipelines }] = await Promise.all([
      apiJSON(`/runs?${q}`, { signal }),
      apiJSON('/pipelines', { signal }),
    ]);
    const go = (changes) => {
      const next = new URLSearchParams();
      const v = Object.assign({ pipeline_id: pipelineID, status, cursor: '', back: [] }, changes);
      if (v.pipeline_id) next.set('pipeline_id', v.pipeline_id);
      if (v.status) next.set('status', v.status);
      if (v.cursor) next.set('cursor', v.cursor);
      for (const b of v.back) next.append('back', b);
      location.hash = `#/runs${next.toString() ? `?${next}` : ''}`;
    };
    const statusSelect = h('select', { id: 'filter-status', onchange: () => go({ status: statusSelect.value }) },
      h('option', { value: '' }, 'any'), STATUSES.map((st) => h('option', { value: st, selected: st === status }, st)));
    const pipelineSelect = h('select', { id: 'filter-pipeline', onchange: () => go({ pipeline_id: pipelineSelect.value }) },
      h('option', { value: '' }, 'any'), pipelines.map((id) => h('option', { value: id, selected: id === pipelineID }, id)));
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of runs' },
      previous.length
        ? h('button', { type: 'button', class: 'secondary', onclick: () => go({ cursor: previous[previous.length - 1], back: previous.slice(0, -1) }) }, 'Previous page')
        : null,
      page.next_cursor
        ? h('button', { type: 'button', class: 'secondary', onclick: () => go({ cursor: page.next_cursor, back: previous.concat([cursor]) }) }, 'Next page')
        : null,
      h('span', { class: 'muted' }, `Page ${previous.length + 1}`));
    mount(h('h1', {}, 'Runs'),
      h('p', { class: 'lead' }, 'Newest first; only runs of pipelines this credential may read.'),
      h('form', { class: 'inline panel', 'aria-label': 'Filter runs', onsubmit: (ev) => ev.preventDefault() },
        h('div', {}, h('label', { for: 'filter-status' }, 'Status'), statusSelect),
        h('div', {}, h('label', { for: 'filter-pipeline' }, 'Pipeline'), pipelineSelect)),
      h('section', { class: 'panel', 'aria-label': 'Runs' }, runsTable(page.runs, true), pager));
  }

  // The live view of a run: its status, its graph's nodes and its tasks
  // follow GET /runs/{id}/events, read with fetch (EventSource cannot send
  // the credential's header).
  async function runView(id, signal) {
    markNav('runs');
    setTitle(`Run ${id}`);
    let run = await apiJSON(`/runs/${enc(id)}`, { signal });
    const [p, graph] = await Promise.all([
      apiJSON(`/pipelines/${enc(run.pipeline_id)}`, { signal }),
      fetchGraph(run.pipeline_id, signal),
    ]);
    const canWrite = (p.actions || []).includes('write');
    const canExecute = (p.actions || []).includes('execute');
    const order = p.tasks.map((t) => t.name);

    const statusLine = h('p', { class: 'run-status', id: 'run-status-line' });
    const cancelBox = h('div', { class: 'actions' });
    const notice = h('div', { class: 'notice', role: 'status' });
    const tasksBody = h('tbody');
    const timeline = h('div', { class: 'timeline' });
    const outputs = h('div');
    const errors = h('div');

    function render() {
      statusLine.replaceChildren('Status: ', statusBadge(run.status, 'run-status-badge'));
      statusLine.dataset.status = run.status;
      const terminal = ['succeeded', 'failed', 'cancelled'].includes(run.status);
      cancelBox.replaceChildren(...(!terminal && canWrite
        ? [h('button', { type: 'button', class: 'danger', onclick: cancel }, 'Cancel')]
        : []), ...(terminal && canExecute
        ? [h('button', { type: 'button', class: 'secondary', onclick: rerun }, 'Re-run')]
        : []));
      for (const name of order) {
        const t = run.tasks[name] || { status: 'pending', attempts: 0 };
        const node = graph.querySelector(`[data-task="${CSS.escape(name)}"]`);
        if (node) {
          node.setAttribute('data-status', t.status);
          const detail = node.querySelector('.tw-detail');
          if (detail) detail.textContent = `${SYMBOL[t.status] || ''} ${t.status}${t.elements_done ? ` · ${t.elements_done} done` : ''}`;
          const title = node.querySelector('title');
          if (title) title.textContent = `${name}: ${t.status}`;
        }
      }
      tasksBody.replaceChildren(...order.map((name) => {
        const t = run.tasks[name] || { status: 'pending', attempts: 0 };
        return h('tr', { 'data-task-row': name },
          h('th', { scope: 'row', class: 'path' }, name),
          h('td', {}, statusBadge(t.status), t.elements_done
            ? h('span', { class: 'muted' }, ` ${t.elements_done} element${t.elements_done === 1 ? '' : 's'} done`) : ''),
          h('td', { class: 'num' }, String(t.attempts || 0)),
          h('td', { class: 'num' }, when(t.started_at)),
          h('td', { class: 'num' }, t.started_at ? duration(t.started_at, t.finished_at) : '—'),
          h('td', {}, t.error ? h('code', {}, t.error) : ''));
      }));
      timeline.replaceChildren(drawTimeline(run, order));
      outputs.replaceChildren(run.status === 'succeeded'
        ? h('pre', { id: 'run-outputs', tabindex: '0', 'aria-label': 'Outputs as JSON' }, JSON.stringify(run.outputs, null, 2))
        : h('p', { class: 'muted' }, terminal ? 'This run returned no outputs.' : 'The outputs appear when the run succeeds.'));
      const failedTasks = order.filter((n) => run.tasks[n] && run.tasks[n].status === 'failed');
      errors.replaceChildren(run.error || failedTasks.length
        ? h('div', { class: 'error', role: 'alert', id: 'run-error' },
          run.error ? h('p', {}, h('strong', {}, 'Error: '), run.error) : null,
          failedTasks.map((n) => h('p', {}, h('strong', {}, `Task ${n} failed: `), h('code', {}, run.tasks[n].error || ''))))
        : '');
    }

    async function cancel(ev) {
      ev.target.disabled = true;
      try {
        const res = await api(`/runs/${enc(id)}/cancel`, { method: 'POST', signal });
        const v = res.ok ? await res.json() : await problemOf(res);
        if (res.ok) {
          run = v;
          render();
          announce(`Run ${id} cancelled.`);
        } else {
          notice.replaceChildren(errorBox(new Problem(res.status, v)));
          ev.target.disabled = false;
        }
      } catch (err) {
        if (!(err instanceof SignedOut) && !signal.aborted) notice.replaceChildren(errorBox(err));
      }
    }

    // rerun starts a new run with this run's inputs and shows it.
    async function rerun(ev) {
      ev.target.disabled = true;
      try {
        const res = await api(`/runs/${enc(id)}/rerun`, { method: 'POST', signal });
        const v = res.ok ? await res.json() : await problemOf(res);
        if (res.ok) {
          announce(`Run ${v.run_id} started with the inputs of run ${id}.`);
          location.hash = `#/runs/${enc(v.run_id)}`;
        } else {
          notice.replaceChildren(errorBox(new Problem(res.status, v)));
          ev.target.disabled = false;
        }
      } catch (err) {
        if (!(err instanceof SignedOut) && !signal.aborted) notice.replaceChildren(errorBox(err));
      }
    }

    mount(
      h('h1', {}, 'Run ', h('span', { class: 'path' }, id)),
      h('p', { class: 'lead' }, 'Of pipeline ', h('a', { href: `#/pipelines/${enc(run.pipeline_id)}` }, run.pipeline_id), `, created ${when(run.created_at)}`,
        run.rerun_of ? [', a re-run of run ', h('a', { href: `#/runs/${enc(run.rerun_of)}`, class: 'path', id: 'rerun-of' }, run.rerun_of)] : null, '.'),
      h('section', { class: 'panel', 'aria-labelledby': 'state-title' },
        h('h2', { id: 'state-title', class: 'sr-only' }, 'State'),
        statusLine, cancelBox, notice, errors,
        h('figure', { class: 'graph' }, graph)),
      h('section', { class: 'panel', 'aria-labelledby': 'tasks-title' },
        h('h2', { id: 'tasks-title' }, 'Tasks'),
        h('table', {}, h('thead', {}, h('tr', {},
          ['Task', 'Status', 'Attempts', 'Started', 'Duration', 'Error'].map((c) => h('th', { scope: 'col' }, c)))), tasksBody),
        h('h3', {}, 'Timeline'), timeline),
      h('section', { class: 'panel', 'aria-labelledby': 'outputs-title' },
        h('h2', { id: 'outputs-title' }, 'Outputs'), outputs));
    render();

    const terminal = () => ['succeeded', 'failed', 'cancelled'].includes(run.status);
    if (terminal()) return;
    // Running tasks' bars and durations grow while no event comes.
    const tick = setInterval(() => (terminal() ? clearInterval(tick) : render()), 1000);
    signal.addEventListener('abort', () => clearInterval(tick));
    follow(id, signal, {
      snapshot: (v) => { run = v; render(); },
      event: (ev) => {
        applyEvent(run, ev);
        // A run's end is shown with its outputs, once they are read.
        if (!ev.type.startsWith('run_') || ev.type === 'run_started') render();
      },
      ended: async () => {
        // The final state (outputs above all) comes from the run itself.
        run = await apiJSON(`/runs/${enc(id)}`, { signal });
        render();
        announce(`Run ${id} ${run.status}.`);
      },
      failed: (err) => {
        render();
        notice.replaceChildren(h('p', {}, `Live updates stopped: ${err.message}. `,
          h('button', { type: 'button', class: 'link', onclick: () => route() }, 'Reload')));
      },
    });
  }

  // ------------------------------------------------------------ dead letters

  // The task executions the broker gave up on, of the pipelines this
  // credential may write, each with a Requeue button: the failed run is
  // running again, and the view goes to it.
  async function deadLettersView(query, signal) {
    markNav('dead-letters');
    setTitle('Dead letters');
    const cursor = query.get('cursor') || '';
    const previous = query.getAll('back');
    const q = new URLSearchParams({ limit: '20' });
    if (cursor) q.set('cursor', cursor);
    const page = await apiJSON(`/dead-letters?${q}`, { signal });
    const go = (c, back) => {
      const next = new URLSearchParams();
      if (c) next.set('cursor', c);
      for (const b of back) next.append('back', b);
      location.hash = `#/dead-letters${next.toString() ? `?${next}` : ''}`;
    };
    const notice = h('div', { class: 'notice', role: 'status' });
    async function requeue(ev, dl) {
      ev.target.disabled = true;
      try {
        const res = await api(`/dead-letters/${enc(dl.id)}/requeue`, { method: 'POST', signal });
        const v = res.ok ? await res.json() : await problemOf(res);
        if (res.ok) {
          announce(`Task ${dl.task} of run ${dl.run_id} requeued.`);
          location.hash = `#/runs/${enc(v.run_id)}`;
        } else {
          notice.replaceChildren(errorBox(new Problem(res.status, v)));
          ev.target.disabled = false;
        }
      } catch (err) {
        if (!(err instanceof SignedOut) && !signal.aborted) notice.replaceChildren(errorBox(err));
      }
    }
    const table = page.dead_letters.length
      ? h('table', {},
        h('thead', {}, h('tr', {}, ['Run', 'Pipeline', 'Task', 'Attempts', 'Last error', 'When', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, page.dead_letters.map((dl) => h('tr', { 'data-dead-letter': dl.id },
          h('td', {}, h('a', { href: `#/runs/${enc(dl.run_id)}`, class: 'path' }, dl.run_id)),
          h('td', {}, h('a', { href: `#/pipelines/${enc(dl.pipeline_id)}` }, dl.pipeline_id)),
          h('td', { class: 'path' }, dl.index === null || dl.index === undefined ? dl.task : `${dl.task}[${dl.index}]`),
          h('td', { class: 'num' }, String(dl.attempts)),
          h('td', {}, h('code', {}, dl.last_error || '')),
          h('td', { class: 'num' }, when(dl.time)),
          h('td', {}, h('button', { type: 'button', class: 'secondary', 'aria-label': `Requeue ${dl.task} of run ${dl.run_id}`, onclick: (ev) => requeue(ev, dl) }, 'Requeue'))))))
      : h('p', { class: 'muted' }, 'No dead letters.');
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of dead letters' },
      previous.length ? h('button', { type: 'button', class: 'secondary', onclick: () => go(previous[previous.length - 1], previous.slice(0, -1)) }, 'Previous page') : null,
      page.next_cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => go(page.next_cursor, previous.concat([cursor])) }, 'Next page') : null,
      h('span', { class: 'muted' }, `Page ${previous.length + 1}`));
    mount(h('h1', {}, 'Dead letters'),
      h('p', { class: 'lead' }, 'Task executions given up on (a permanent failure, or deliveries used up), newest first; only of pipelines this credential may write. Requeue one to carry its run on.'),
      notice,
      h('section', { class: 'panel', 'aria-label': 'Dead letters' }, table, pager));
  }

  // applyEvent folds one lifecycle event into a run.
  function applyEvent(run, ev) {
    const t = ev.task ? (run.tasks[ev.task] = run.tasks[ev.task] || { status: 'pending', attempts: 0, error: null }) : null;
    switch (ev.type) {
      case 'run_started':
        run.status = 'running';
        run.started_at = run.started_at || ev.time;
        break;
      case 'task_started':
        if (t.status !== 'succeeded') t.status = 'running';
        t.attempts = Math.max(t.attempts || 0, ev.attempt || 1);
        t.started_at = t.started_at || ev.time;
        if (run.status === 'pending') run.status = 'running';
        break;
      case 'task_retrying':
        t.status = 'running';
        t.error = ev.error || t.error;
        break;
      case 'task_succeeded':
        t.status = 'succeeded';
        t.finished_at = ev.time;
        break;
      case 'task_element_succeeded': // one element of a map task
        t.elements_done = (t.elements_done || 0) + 1;
        break;
      case 'task_element_failed':
        t.error = ev.error || t.error;
        break;
      case 'task_failed':
        t.status = 'failed';
        t.error = ev.error || t.error;
        t.finished_at = ev.time;
        break;
      case 'run_succeeded':
      case 'run_failed':
      case 'run_cancelled':
        run.status = ev.type.slice(4);
        run.finished_at = ev.time;
        if (ev.error) run.error = ev.error;
        break;
      default:
    }
  }

  // follow reads a run's Server-Sent Events until the run ends, reconnecting
  // when the stream ends early.
  async function follow(id, signal, on) {
    let tries = 0;
    while (!signal.aborted) {
      let ended = false;
      try {
        const res = await api(`/runs/${enc(id)}/events`, { signal, headers: { Accept: 'text/event-stream' } });
        if (!res.ok) throw new Problem(res.status, await problemOf(res));
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const ev = parseEvent(block);
            if (!ev) continue;
            if (ev.event === 'snapshot') on.snapshot(ev.data);
            else on.event(ev.data);
            if (['run_succeeded', 'run_failed', 'run_cancelled'].includes(ev.event)) ended = true;
            if (ev.event === 'snapshot' && ['succeeded', 'failed', 'cancelled'].includes(ev.data.status)) ended = true;
          }
        }
      } catch (err) {
        if (err instanceof SignedOut || signal.aborted) return;
        if (++tries > 3) {
          on.failed(err);
          return;
        }
      }
      if (ended) {
        try {
          await on.ended();
        } catch (err) {
          if (!(err instanceof SignedOut) && !signal.aborted) on.failed(err);
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 1000 * Math.max(tries, 1)));
    }
  }

  function parseEvent(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) return null;
    try {
      return { event, data: JSON.parse(data.join('\n')) };
    } catch {
      return null;
    }
  }

  // drawTimeline draws one bar per task from its start to its end (or to
  // now while it runs), on the run's time axis.
  function drawTimeline(run, order) {
    const now = Date.now();
    const t0 = Math.min(...order.map((n) => (run.tasks[n] && run.tasks[n].started_at ? Date.parse(run.tasks[n].started_at) : Infinity)),
      run.started_at ? Date.parse(run.started_at) : Infinity);
    if (!Number.isFinite(t0)) return h('p', { class: 'muted' }, 'No task has started yet.');
    const ends = order.map((n) => {
      const t = run.tasks[n];
      if (!t || !t.started_at) return t0;
      return t.finished_at ? Date.parse(t.finished_at) : now;
    });
    const t1 = Math.max(t0 + 1, ...ends, run.finished_at ? Date.parse(run.finished_at) : t0 + 1);
    const labelW = Math.min(260, 16 + 8 * Math.max(...order.map((n) => n.length)));
    const width = 760;
    const barW = width - labelW - 90;
    const rowH = 26;
    const svg = s('svg', { viewBox: `0 0 ${width} ${order.length * rowH + 24}`, role: 'img', 'aria-label': `Timeline of the run's ${order.length} tasks` });
    order.forEach((n, i) => {
      const t = run.tasks[n] || { status: 'pending' };
      const y = i * rowH + 4;
      svg.append(s('text', { x: 0, y: y + 15 }, n));
      if (!t.started_at) {
        svg.append(s('rect', { x: labelW, y: y + 3, width: 24, height: rowH - 10, rx: 3, class: 'bar-pending' }));
        svg.append(s('text', { x: labelW + 32, y: y + 15 }, t.status));
        return;
      }
      const a = Date.parse(t.started_at);
      const b = t.finished_at ? Date.parse(t.finished_at) : now;
      const x = labelW + ((a - t0) / (t1 - t0)) * barW;
      const w = Math.max(3, ((b - a) / (t1 - t0)) * barW);
      svg.append(s('rect', { x: x.toFixed(1), y: y + 3, width: w.toFixed(1), height: rowH - 10, rx: 3, class: `bar-${t.status}` },
        s('title', {}, `${n}: ${t.status}, ${duration(t.started_at, t.finished_at)}`)));
      svg.append(s('text', { x: (x + w + 6).toFixed(1), y: y + 15 }, `${duration(t.started_at, t.finished_at)}`));
    });
    const axisY = order.length * rowH + 8;
    svg.append(s('line', { x1: labelW, x2: labelW + barW, y1: axisY, y2: axisY, class: 'axis' }));
    svg.append(s('text', { x: labelW, y: axisY + 14 }, '0'));
    svg.append(s('text', { x: labelW + barW, y: axisY + 14, 'text-anchor': 'end' }, duration(new Date(t0).toISOString(), new Date(t1).toISOString())));
    return svg;
  }

  // ------------------------------------------------------------ API reference

  function resolve(doc, obj) {
    let seen = 0;
    while (obj && obj.$ref && seen++ < 16) {
      obj = obj.$ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
    }
    return obj || {};
  }

  // schemaText describes a schema in a line: its type, enum and bounds.
  function schemaText(doc, schema) {
    const sc = resolve(doc, schema);
    const name = schema && schema.$ref ? schema.$ref.split('/').pop() : '';
    let t = name || sc.type || (sc.properties ? 'object' : 'any');
    if (sc.type === 'array' && sc.items) t = `array of ${schemaText(doc, sc.items)}`;
    const extra = [];
    if (sc.enum) extra.push(`one of ${sc.enum.join(', ')}`);
    if (sc.minimum !== undefined) extra.push(`≥ ${sc.minimum}`);
    if (sc.maximum !== undefined) extra.push(`≤ ${sc.maximum}`);
    if (sc.maxLength !== undefined) extra.push(`at most ${sc.maxLength} characters`);
    if (sc.pattern) extra.push(`matches ${sc.pattern}`);
    if (sc.default !== undefined) extra.push(`default ${JSON.stringify(sc.default)}`);
    return extra.length ? `${t} (${extra.join('; ')})` : t;
  }

  // expand inlines the $refs of a schema, for reading (cycles are cut).
  function expand(doc, schema, depth = 0) {
    if (depth > 6) return schema;
    const sc = resolve(doc, schema);
    if (Array.isArray(sc)) return sc.map((x) => expand(doc, x, depth + 1));
    if (!sc || typeof sc !== 'object') return sc;
    const out = {};
    for (const [k, v] of Object.entries(sc)) {
      out[k] = v && typeof v === 'object' && k !== 'example' && k !== 'examples' ? expand(doc, v, depth + 1) : v;
    }
    return out;
  }

  function firstExample(media) {
    if (!media) return undefined;
    if (media.example !== undefined) return media.example;
    const ex = Object.values(media.examples || {})[0];
    return ex ? ex.value : undefined;
  }

  async function docsView(signal) {
    markNav('docs');
    setTitle('API reference');
    openapi = openapi || await apiJSON('/openapi.json', { signal });
    const doc = openapi;
    const ops = [];
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
        if (item[method]) ops.push({ path, method, op: item[method], shared: item.parameters || [] });
      }
    }
    // The pipelines' execute operations first: they are what users come for.
    const rank = (o) => (o.op.operationId && o.op.operationId.startsWith('execute_') ? 0 : 1);
    ops.sort((a, b) => rank(a) - rank(b));
    const schemes = Object.entries((doc.components && doc.components.securitySchemes) || {});
    mount(
      h('h1', {}, 'API reference'),
      h('p', { class: 'lead' }, `${doc.info.title} ${doc.info.version}`),
      prose(doc.info.description),
      h('p', {}, 'Built from ', h('code', {}, '/openapi.json'), '. ', h('strong', {}, 'Try it'),
        ' sends the request with your credential, so the API\'s authentication, access rules, rate limits and audit log apply as for any client.'),
      schemes.length ? h('p', { class: 'muted' }, 'Authentication: ', schemes.map(([n, sc]) => `${n} (${sc.type === 'apiKey' ? `${sc.name} header` : sc.scheme})`).join(', '), '.') : null,
      h('section', { 'aria-label': 'Operations' }, ops.map((o) => operation(doc, o))));
  }

  function operation(doc, { path, method, op, shared }) {
    const params = shared.concat(op.parameters || []).map((p) => resolve(doc, p));
    const body = op.requestBody ? resolve(doc, op.requestBody) : null;
    const bodyMedia = body && body.content ? body.content['application/json'] : null;
    const id = op.operationId || `${method}-${path}`;
    const responses = Object.entries(op.responses || {});
    const details = h('details', { class: 'op', id: `op-${id}` },
      h('summary', {},
        h('span', { class: `method method-${method}` }, method),
        h('span', { class: 'path' }, path),
        h('span', {}, op.summary || ''),
        h('span', { class: 'opid' }, id),
        op.security && op.security.length === 0 ? h('span', { class: 'tag' }, 'public') : null),
      h('div', { class: 'body' },
        prose(op.description),
        params.length ? [h('h3', {}, 'Parameters'), h('table', {},
          h('thead', {}, h('tr', {}, ['Name', 'In', 'Schema', 'Description'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, params.map((p) => h('tr', {},
            h('td', {}, h('code', {}, p.name), p.required ? ' (required)' : ''),
            h('td', {}, p.in),
            h('td', {}, schemaText(doc, p.schema)),
            h('td', {}, inline(p.description))))))] : null,
        bodyMedia ? [
          h('h3', {}, 'Request body'),
          prose(body.description),
          h('p', {}, 'Schema ', h('code', {}, schemaText(doc, bodyMedia.schema)), ':'),
          h('pre', { tabindex: '0' }, JSON.stringify(expand(doc, bodyMedia.schema), null, 2)),
          firstExample(bodyMedia) !== undefined ? [h('p', {}, 'Example:'), h('pre', { tabindex: '0' }, JSON.stringify(firstExample(bodyMedia), null, 2))] : null,
        ] : null,
        h('h3', {}, 'Responses'),
        h('table', {}, h('tbody', {}, responses.map(([code, r]) => {
          const resp = resolve(doc, r);
          const media = resp.content ? Object.values(resp.content)[0] : null;
          const ex = firstExample(media);
          return h('tr', {}, h('td', { class: 'response-status' }, code), h('td', {}, inline(resp.description),
            ex !== undefined && code.startsWith('2') ? h('pre', { tabindex: '0' }, typeof ex === 'string' ? ex : JSON.stringify(ex, null, 2)) : null));
        }))),
        tryIt(doc, path, method, params, bodyMedia, id)));
    return details;
  }

  // tryIt is a form that sends the operation with the signed-in credential
  // and shows the response's status, headers and body.
  function tryIt(doc, path, method, params, bodyMedia, id) {
    const out = h('div', { 'aria-live': 'polite', class: 'try-result' });
    const fields = params.map((p, i) => {
      const fid = `try-${id}-${i}`;
      const sc = resolve(doc, p.schema);
      const value = p.example !== undefined ? p.example : sc.example !== undefined ? sc.example : sc.default !== undefined ? sc.default : '';
      const control = sc.enum
        ? h('select', { id: fid, 'data-param': p.name, 'data-in': p.in },
          p.required ? null : h('option', { value: '' }, '(not set)'),
          sc.enum.map((v) => h('option', { value: v, selected: p.required && v === value }, v)))
        : h('input', { id: fid, type: 'text', 'data-param': p.name, 'data-in': p.in, value: p.in === 'path' ? value : '' });
      return [h('label', { for: fid }, `${p.name} (${p.in})`), control];
    });
    const bodyID = `try-${id}-body`;
    const example = firstExample(bodyMedia);
    const bodyField = bodyMedia ? [h('label', { for: bodyID }, 'Request body (JSON)'),
      h('textarea', { id: bodyID, rows: 6, spellcheck: 'false' }, example !== undefined ? JSON.stringify(example, null, 2) : '{}')] : null;
    const form = h('form', {
      novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        let url = path;
        const query = new URLSearchParams();
        const headers = {};
        for (const el of form.querySelectorAll('[data-param]')) {
          const v = el.value;
          if (el.dataset.in === 'path') url = url.replace(`{${el.dataset.param}}`, enc(v));
          else if (v === '') continue;
          else if (el.dataset.in === 'query') query.set(el.dataset.param, v);
          else if (el.dataset.in === 'header') headers[el.dataset.param] = v;
        }
        if (query.toString()) url += `?${query}`;
        const opts = { method: method.toUpperCase(), headers };
        if (bodyMedia) {
          opts.body = form.querySelector(`#${CSS.escape(bodyID)}`).value;
          headers['Content-Type'] = 'application/json';
        }
        const button = form.querySelector('button');
        button.disabled = true;
        out.replaceChildren(h('p', { class: 'muted' }, `Sending ${opts.method} ${url} ...`));
        const ctl = new AbortController();
        const timer = setTimeout(() => ctl.abort(), 5000); // event streams last as long as their run
        try {
          const res = await api(url, Object.assign(opts, { signal: ctl.signal }));
          const text = await readSome(res);
          const headerLines = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
          let shown = text.body;
          if ((res.headers.get('content-type') || '').includes('json')) {
            try { shown = JSON.stringify(JSON.parse(text.body), null, 2); } catch { /* as sent */ }
          }
          out.replaceChildren(
            h('p', {}, 'Status: ', h('strong', { class: 'response-status' }, `${res.status} ${res.statusText}`)),
            h('p', {}, 'Headers:'), h('pre', { tabindex: '0' }, headerLines),
            h('p', {}, 'Body', text.cut ? ' (the first part; the stream goes on):' : ':'), h('pre', { tabindex: '0' }, shown));
        } catch (err) {
          if (!(err instanceof SignedOut)) out.replaceChildren(errorBox(err));
        } finally {
          clearTimeout(timer);
          button.disabled = false;
        }
      },
    }, h('h3', {}, 'Try it'), fields, bodyField,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Try it')), out);
    return form;
  }

  // readSome reads a response body, or its first 64 KiB and whatever came
  // within the time left for a stream that does not end.
  async function readSome(res) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let body = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return { body, cut: false };
        body += value;
        if (body.length > 65536) {
          reader.cancel();
          return { body, cut: true };
        }
      }
    } catch (err) {
      if (err.name === 'AbortError' && body) return { body, cut: true };
      throw err;
    }
  }

  // ------------------------------------------------------------ start

  async function start() {
    try {
      const res = await fetch('/ui/config.json', { credentials: 'omit', cache: 'no-store' });
      if (res.ok) config = await res.json();
    } catch {
      // The defaults: an API key in X-API-Key.
    }
    document.getElementById('brand').textContent = config.title;
    signOutButton.addEventListener('click', () => {
      signOut('Signed out. The credential is forgotten.', false);
      announce('Signed out.');
    });
    // The skip link moves the focus without touching the route.
    document.querySelector('[data-skip]').addEventListener('click', (ev) => {
      ev.preventDefault();
      main.focus();
    });
    window.addEventListener('hashchange', route);
    route();
  }

  start();
})();
