// fieldsync web interface: one page, talking only to this service's /api/ (no other origin).
// Everything shown is put in the page as text (textContent), never as markup.
'use strict';

const state = { user: null, role: null, csrf: null, fields: null, poll: null };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === 'text') e.textContent = v;
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined)
    e.append(typeof kid === 'string' ? document.createTextNode(kid) : kid);
  return e;
}

function show(...nodes) {
  const main = document.getElementById('main');
  main.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined));
}

function say(text, ok) {
  const m = document.getElementById('message');
  m.textContent = text || '';
  m.className = ok ? 'ok' : '';
  m.hidden = !text;
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    opts.headers['Content-Type'] = 'application/json';
    if (state.csrf) opts.headers['X-CSRF-Token'] = state.csrf;
    opts.body = JSON.stringify(body || {});
  }
  const r = await fetch('/api/' + path, opts);
  let doc = null;
  try { doc = await r.json(); } catch (e) { doc = { error: 'bad answer from the service' }; }
  if (r.status === 401 && path !== 'logon') {
    state.user = null;
    state.csrf = null;
    route('#/logon');
    throw new Error(doc.error || 'log on first');
  }
  if (!r.ok) throw new Error(doc.error || ('HTTP ' + r.status));
  return doc;
}

// ---- pages ------------------------------------------------------------------------------

function pageLogon() {
  const user = el('input', { id: 'logon-user', autocomplete: 'username' });
  const pass = el('input', { id: 'logon-pass', type: 'password', autocomplete: 'current-password' });
  const form = el('form', { id: 'logon-form', class: 'card' },
    el('h2', { text: 'Log on' }),
    el('label', { for: 'logon-user', text: 'User' }), user,
    el('label', { for: 'logon-pass', text: 'Passphrase' }), pass,
    el('div', {}, el('button', { id: 'logon-submit', type: 'submit', text: 'Log on' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const doc = await api('POST', 'logon', { user: user.value, passphrase: pass.value });
      pass.value = '';
      setSession(doc);
      say('');
      location.hash = '#/cases';
    } catch (e) { pass.value = ''; say(e.message); }
  });
  show(form);
  user.focus();
}

async function loadFields() {
  if (!state.fields) state.fields = (await api('GET', 'fields')).fields;
  return state.fields;
}

function fieldInput(f, value) {
  const id = 'field-' + f.name;
  if (f.values && f.values.length) {
    const s = el('select', { id, name: f.name }, el('option', { value: '', text: '' }),
      f.values.map((v) => el('option', { value: v, text: v, selected: v === value })));
    return s;
  }
  if (f.kind === 'int') return el('input', { id, name: f.name, type: 'number', value: value || '' });
  return el('input', { id, name: f.name, value: value || '' });
}

async function pageCases(query) {
  const fields = await loadFields();
  const statusField = fields.find((f) => f.name === 'status');
  const catField = fields.find((f) => f.name === 'category');
  const q = el('input', { id: 'search', placeholder: 'full-text search', value: query.q || '' });
  const st = el('select', { id: 'filter-status' }, el('option', { value: '', text: 'any status' }),
    (statusField ? statusField.values : []).map((v) =>
      el('option', { value: v, text: v, selected: v === query.status })));
  const cat = el('select', { id: 'filter-category' }, el('option', { value: '', text: 'any category' }),
    (catField ? catField.values : []).map((v) =>
      el('option', { value: v, text: v, selected: v === query.category })));
  const go = () => {
    const p = new URLSearchParams();
    if (q.value) p.set('q', q.value);
    if (st.value) p.set('status', st.value);
    if (cat.value) p.set('category', cat.value);
    location.hash = '#/cases?' + p.toString();
  };
  const form = el('form', { class: 'filters', id: 'filters' },
    el('div', {}, el('label', { for: 'search', text: 'Search' }), q),
    el('div', {}, el('label', { for: 'filter-status', text: 'Status' }), st),
    el('div', {}, el('label', { for: 'filter-category', text: 'Category' }), cat),
    el('button', { id: 'search-go', type: 'submit', text: 'Show' }));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); go(); });
  const p = new URLSearchParams();
  if (query.q) p.set('q', query.q); else if (query.status) p.set('status', query.status);
  const doc = await api('GET', 'cases' + (p.toString() ? '?' + p : ''));
  let rows = doc.cases || [];
  if (query.q && query.status) rows = rows.filter((r) => r.status === query.status);
  if (query.category) rows = rows.filter((r) => r.category === query.category);
  const table = el('table', { id: 'case-list' },
    el('thead', {}, el('tr', {}, ['Case', 'Title', 'Status', 'Category', 'P', 'Updated', ''].map(
      (h) => el('th', { text: h })))),
    el('tbody', {}, rows.map((r) => el('tr', {},
      el('td', {}, el('a', { href: '#/case/' + encodeURIComponent(r.id), text: r.id })),
      el('td', { text: r.title }), el('td', { text: r.status }), el('td', { text: r.category }),
      el('td', { text: String(r.priority) }), el('td', { text: r.updated_at || '' }),
      el('td', { class: 'warn', text: r.conflicts ? r.conflicts + ' conflict(s)' : '' })))));
  show(el('h2', { text: 'Cases' }), form,
    el('p', { class: 'muted', id: 'case-count', text: rows.length + ' case(s)' }), table);
}

async function pageNew() {
  const fields = await loadFields();
  const title = el('input', { id: 'new-title', size: 60 });
  const cat = fieldInput(fields.find((f) => f.name === 'category'), '');
  cat.id = 'new-category';
  const narr = el('textarea', { id: 'new-narrative', class: 'narrative' });
  const form = el('form', { class: 'card', id: 'new-form' },
    el('h2', { text: 'New case' }),
    el('label', { for: 'new-title', text: 'Title' }), title,
    el('label', { for: 'new-category', text: 'Category' }), cat,
    el('label', { for: 'new-narrative', text: 'Narrative (optional)' }), narr,
    el('div', {}, el('button', { id: 'new-submit', type: 'submit', text: 'Open the case' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { title: title.value, category: cat.value };
    if (narr.value) body.narrative = narr.value;
    try {
      const doc = await api('POST', 'cases', body);
      say('Case ' + doc.id + ' opened', true);
      location.hash = '#/case/' + encodeURIComponent(doc.id);
    } catch (e) { say(e.message); }
  });
  show(form);
}

async function pageCase(id) {
  const [fields, c, hist] = await Promise.all([loadFields(), api('GET', 'cases/' + encodeURIComponent(id)),
    api('GET', 'cases/' + encodeURIComponent(id) + '/history')]);
  const inputs = {};
  const editors = fields.filter((f) => f.name !== 'narrative').map((f) => {
    inputs[f.name] = fieldInput(f, c.fields[f.name]);
    return el('div', {}, el('label', { for: 'field-' + f.name, text: f.name }), inputs[f.name]);
  });
  const narr = el('textarea', { id: 'narrative', class: 'narrative' });
  narr.value = c.narrative || '';
  const save = el('button', { id: 'save', type: 'submit', text: 'Save changes' });
  const form = el('form', { class: 'card', id: 'case-form' },
    el('div', { class: 'fields' }, editors),
    el('label', { for: 'narrative', text: 'Narrative' }), narr, save);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const changed = {};
    for (const [name, input] of Object.entries(inputs))
      if (input.value !== (c.fields[name] || '') && input.value !== '') changed[name] = input.value;
    const body = { fields: changed };
    if (narr.value !== (c.narrative || '')) body.narrative = narr.value;
    if (!Object.keys(changed).length && body.narrative === undefined) { say('Nothing changed'); return; }
    try {
      await api('POST', 'cases/' + id, body);
      await pageCase(id);
      say('Saved', true);
    } catch (e) { say(e.message); }
  });
  const noteText = el('textarea', { id: 'note-text' });
  const noteForm = el('form', { id: 'note-form' }, el('label', { for: 'note-text', text: 'Add a note' }),
    noteText, el('button', { id: 'note-submit', type: 'submit', text: 'Add note' }));
  noteForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', 'cases/' + id + '/notes', { text: noteText.value });
      await pageCase(id);
      say('Note added', true);
    } catch (e) { say(e.message); }
  });
  const notes = el('div', { class: 'card', id: 'notes' }, el('h3', { text: 'Notes' }),
    (c.notes || []).map((n) => el('div', { class: 'note' },
      el('div', { class: 'muted', text: n.time + ' — ' + n.author }), el('pre', { text: n.text }))),
    noteForm);
  const diffBox = el('pre', { class: 'diff', id: 'diff', hidden: true });
  const history = el('div', { class: 'card', id: 'history' }, el('h3', { text: 'History' }),
    el('table', {}, el('tbody', {}, (hist.history || []).map((h) => el('tr', {},
      el('td', { text: h.time }), el('td', { text: h.user + ' @ ' + h.office }),
      el('td', { text: h.summary }),
      el('td', {}, el('button', { class: 'show-diff', 'data-commit': h.commit, text: 'diff',
        on: { click: async () => {
          try {
            const d = await api('GET', 'cases/' + id + '/diff?rev=' + encodeURIComponent(h.commit));
            diffBox.textContent = d.diff || '(no change)';
            diffBox.hidden = false;
          } catch (e) { say(e.message); }
        } } })))))), diffBox);
  const conflicts = (c.conflicts || []).length ? el('p', { class: 'warn', id: 'case-conflicts' },
    c.conflicts.length + ' unresolved conflict(s): ',
    el('a', { href: '#/conflicts/' + encodeURIComponent(id), text: 'resolve them' })) : null;
  show(el('h2', { id: 'case-title', text: c.id + ' — ' + (c.fields.title || '') }),
    el('p', { class: 'muted', text: 'office ' + c.office + ', head ' + c.head.slice(0, 12) }),
    conflicts, form, notes, history);
}

async function pageConflicts() {
  const doc = await api('GET', 'conflicts');
  show(el('h2', { text: 'Cases with conflicts' }),
    (doc.cases || []).length ? el('table', { id: 'conflict-list' }, el('tbody', {}, doc.cases.map((r) =>
      el('tr', {}, el('td', {}, el('a', { href: '#/conflicts/' + encodeURIComponent(r.id), text: r.id })),
        el('td', { text: r.title }), el('td', { text: String(r.conflicts) }))))) :
      el('p', { id: 'no-conflicts', text: 'No unresolved conflicts.' }));
}

async function pageConflict(id) {
  const doc = await api('GET', 'conflicts/' + id);
  const resolve = async (k, choice, value) => {
    try {
      await api('POST', 'conflicts/' + id + '/resolve',
        { path: k.path, choice, value, version: k.version });
      await pageConflict(id);
      say('Resolved ' + k.path, true);
    } catch (e) { say(e.message); }
  };
  const cards = (doc.conflicts || []).map((k, i) => {
    const value = el('input', { id: 'value-' + i, size: 50 });
    const mineIs = k.mine === 'kept' ? 'kept' : k.mine === 'current' ? 'in place' : null;
    const inPlace = k.region ? k.region.in_place : k.current;
    const other = k.region ? k.region.other : k.value;
    return el('div', { class: 'card conflict', id: 'conflict-' + i },
      el('h3', { text: k.path + (k.region ? ' (line ' + k.region.line + ')' : '') }),
      el('div', { class: 'side' },
        el('div', {}, el('div', { class: 'muted', text: 'in place, by ' + (k.current_author || '?') }),
          el('pre', { class: 'in-place', text: inPlace })),
        el('div', {}, el('div', { class: 'muted', text: 'kept version, by ' + k.author }),
          el('pre', { class: 'kept', text: other }))),
      mineIs ? el('p', { class: 'muted', text: 'yours: the ' + mineIs + ' one' }) : null,
      el('button', { class: 'keep-mine', text: 'Keep mine', disabled: !mineIs,
        on: { click: () => resolve(k, 'mine') } }),
      el('button', { class: 'keep-theirs', text: 'Keep theirs', disabled: !mineIs,
        on: { click: () => resolve(k, 'theirs') } }),
      value,
      el('button', { class: 'write-value', text: 'Write this value',
        on: { click: () => resolve(k, 'value', value.value) } }));
  });
  show(el('h2', { text: 'Conflicts of ' + id }),
    ...(cards.length ? cards : [el('p', { id: 'no-conflicts', text: 'No unresolved conflicts.' })]),
    el('p', {}, el('a', { href: '#/case/' + encodeURIComponent(id), text: 'back to the case' })));
}

function syncText(s) {
  if (!s) return '';
  if (s.running) return 'Syncing: ' + (s.phase || '') + ' ' + s.done + (s.total ? ' of ' + s.total : '');
  return 'Last sync: ' + (s.last_success || 'never') + (s.last_error ? ' — failing: ' + s.last_error : '') +
    ' — ' + s.unpushed + ' case(s) not yet at HQ';
}

async function pageSync() {
  const box = el('div', { class: 'card', id: 'sync-status' });
  const bar = el('progress', { id: 'sync-progress', max: 1, value: 0 });
  const render = (st) => {
    const s = st.sync;
    bar.max = s.total || 1;
    bar.value = s.running ? (s.total ? s.done : 0) : 1;
    if (s.running && !s.total) bar.removeAttribute('value');
    box.replaceChildren(
      el('p', { id: 'sync-state', text: s.running ? 'A sync is running: ' + (s.phase || '') : 'Idle' }),
      el('p', { id: 'sync-last', text: 'Last success: ' + (s.last_success || 'never') }),
      el('p', { id: 'sync-error', class: s.last_error ? 'warn' : 'muted',
        text: s.last_error ? 'Last error: ' + s.last_error + ' (' + s.failures + ' in a row)' : 'No error' }),
      el('p', { id: 'sync-unpushed', text: s.unpushed + ' case(s) with changes HQ has not seen' }),
      el('p', { class: 'muted', text: 'Next background sync in ' + s.next_in_seconds + ' s; ' +
        s.runs + ' sync(s) since the service started' }),
      el('p', { id: 'sync-counts', text: 'Last sync: pushed ' + s.last.pushed + ', pulled ' +
        s.last.pulled + ', merged ' + s.last.merged + ', conflicts ' + s.last.conflicts }));
  };
  const refresh = async () => { try { render(await api('GET', 'status')); } catch (e) { say(e.message); } };
  const now = el('button', { id: 'sync-now', text: 'Sync now', on: { click: async () => {
    try { await api('POST', 'sync'); say('Sync requested', true); refresh(); } catch (e) { say(e.message); }
  } } });
  show(el('h2', { text: 'Sync with HQ' }), now, bar, box);
  await refresh();
  state.poll = setInterval(refresh, 1000);
}

async function pageAudit() {
  const doc = await api('GET', 'audit');
  const rows = (doc.entries || []).slice(-500).reverse();
  show(el('h2', { text: 'Audit trail (newest first)' }),
    el('table', { id: 'audit-list' }, el('thead', {}, el('tr', {},
      ['#', 'Time', 'User', 'Action', 'Target', 'Outcome', 'Detail'].map((h) => el('th', { text: h })))),
    el('tbody', {}, rows.map((e) => el('tr', {},
      [e.seq, e.time, e.user, e.action, e.target, e.outcome, e.detail].map(
        (v) => el('td', { text: v === undefined || v === null ? '' : String(v) })))))));
}

// ---- routing ----------------------------------------------------------------------------

// hash -> page; later pages (evidence, approvals) are one more row each
const pages = [
  [/^#\/logon$/, () => pageLogon()],
  [/^#\/cases(?:\?(.*))?$/, (m) => pageCases(Object.fromEntries(new URLSearchParams(m[1] || '')))],
  [/^#\/new$/, () => pageNew()],
  [/^#\/case\/([^/?]+)$/, (m) => pageCase(decodeURIComponent(m[1]))],
  [/^#\/conflicts$/, () => pageConflicts()],
  [/^#\/conflicts\/([^/?]+)$/, (m) => pageConflict(decodeURIComponent(m[1]))],
  [/^#\/sync$/, () => pageSync()],
  [/^#\/audit$/, () => pageAudit()],
];

function setSession(doc) {
  state.user = doc.user;
  state.role = doc.role;
  state.csrf = doc.csrf;
  document.getElementById('who').textContent = doc.user ? doc.user + ' (' + doc.role + ')' : '';
  document.getElementById('nav').hidden = !doc.user;
  document.getElementById('logoff').hidden = !doc.user;
  document.getElementById('nav-audit').hidden = !(doc.role === 'admin' || doc.role === 'auditor');
}

async function route(hash) {
  if (state.poll) { clearInterval(state.poll); state.poll = null; }
  if (hash !== undefined && location.hash !== hash) { location.hash = hash; return; }
  let h = location.hash || '#/cases';
  if (!state.user && h !== '#/logon') { location.hash = '#/logon'; return; }
  for (const a of document.querySelectorAll('#nav a'))
    a.className = h.startsWith(a.getAttribute('href')) ? 'active' : '';
  for (const [re, fn] of pages) {
    const m = h.match(re);
    if (m) {
      try { await fn(m); } catch (e) { say(e.message); }
      return;
    }
  }
  show(el('p', { text: 'No such page.' }));
}

async function syncBar() {
  if (!state.user) return;
  try {
    const st = await api('GET', 'status');
    const b = document.getElementById('sync-bar');
    document.getElementById('sync-bar-text').textContent = syncText(st.sync);
    b.hidden = false;
  } catch (e) { /* shown by the page itself */ }
}

async function start() {
  document.getElementById('logoff').addEventListener('click', async () => {
    try { await api('POST', 'logoff'); } catch (e) { /* gone already */ }
    setSession({ user: null });
    document.getElementById('sync-bar').hidden = true;
    location.hash = '#/logon';
  });
  window.addEventListener('hashchange', () => { say(''); route(); });
  try { setSession(await api('GET', 'session')); } catch (e) { setSession({ user: null }); }
  setInterval(syncBar, 5000);
  syncBar();
  route();
}

document.addEventListener('DOMContentLoaded', start);
