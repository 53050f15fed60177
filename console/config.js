// The console's configuration pages: the documents the stores save and run; one document with
// its keys (secrets masked, revealed for admins only) and the editor checked as you type. Its
// release cards — gray release, instances, history with diff and rollback, comparison — are in
// config-release.js. Drawn with app.js's parts (window.lemonConsole),
// every value put on the page as text; every answer is `lemon.Admin`'s (docs/console.md).
'use strict'
;(() => {
  const { h, fill, badge, toast, api, failed, paged, ago, may, chrome, view, writeDialog, checkedEditor, page } = window.lemonConsole

  const docHash = (path, layout) => `#/config${path}${layout === 'tree' ? '?layout=tree' : ''}`
  const query = (params) => new URLSearchParams(params).toString()
  /** A stored value as text; a sealed secret shows as ENC(…), never its ciphertext. */
  const stored = (v) => {
    if (v === undefined) return '—'
    if (typeof v === 'string') return /^ENC\(.*\)$/s.test(v) ? 'ENC(…)' : JSON.stringify(v)
    return JSON.stringify(v, (_, x) => (typeof x === 'string' && /^ENC\(.*\)$/s.test(x) ? 'ENC(…)' : x))
  }

  /** One history entry's changed keys: `+ key: new`, `- key: old`, `~ key: old → new`. */
  function keyChanges(entry) {
    if (entry.external) return h('span', { class: 'muted' }, 'written outside lemon-cluster: changes unknown')
    const changes = entry.changes || []
    if (changes.length === 0) return h('span', { class: 'muted' }, 'no change')
    const sign = { added: '+', removed: '-', modified: '~' }
    return h(
      'ul',
      { class: 'diff' },
      changes.map((c) => {
        const kind = c.kind || c.type
        const old = entry.valuesOmitted ? '' : stored(c.old)
        const now = entry.valuesOmitted ? '' : stored(c.new)
        return h(
          'li',
          { class: kind },
          `${sign[kind] || '~'} ${c.key}`,
          entry.valuesOmitted ? '' : kind === 'added' ? `: ${now}` : kind === 'removed' ? `: ${old}` : `: ${old} → ${now}`,
        )
      }),
    )
  }

  // --- the documents ----------------------------------------------------------------------------
  async function renderDocuments() {
    chrome('#/config')
    const open = h('input', { type: 'text', id: 'config-open', placeholder: '/shop/config', 'aria-label': 'document path' })
    const search = h('input', {
      type: 'search',
      id: 'config-search',
      placeholder: 'Filter documents (press /)',
      'aria-label': 'Filter documents',
    })
    const box = h('div', { class: 'card', id: 'config-documents' }, h('p', { class: 'muted' }, 'Looking for documents…'))
    fill(
      view,
      h('div', { class: 'row spread' }, h('h1', null, 'Configuration'), search),
      h(
        'form',
        {
          class: 'row card',
          onsubmit: (ev) => {
            ev.preventDefault()
            const p = open.value.trim()
            if (p.startsWith('/')) location.hash = docHash(p)
          },
        },
        h('label', { for: 'config-open' }, 'Open a document by its znode path'),
        open,
        h('button', { type: 'submit', class: 'primary' }, 'Open'),
      ),
      box,
    )
    let list
    try {
      list = await api('GET', '/api/config')
    } catch (e) {
      return fill(box, failed(e))
    }
    let page = 0
    const draw = () => {
      const q = search.value.trim().toLowerCase()
      const rows = q ? list.documents.filter((d) => d.path.toLowerCase().includes(q)) : list.documents
      fill(
        box,
        paged(
          rows,
          [
            ['Document', (d) => h('a', { href: docHash(d.path, d.layout), class: 'document-link' }, d.path)],
            ['Layout', (d) => (d.exists ? d.layout : badge('missing', 'warn'))],
            ['Version', (d) => d.version ?? '—', 'num'],
            ['Instances', (d) => d.instances, 'num'],
            ['Modified', (d) => (d.modifiedAt ? `${ago(d.modifiedAt)} ago` : '—')],
          ],
          {
            page,
            onPage: (p) => ((page = p), draw()),
            empty: list.documents.length
              ? `No document matches “${search.value}”.`
              : 'No configuration document found. A document appears here once a store saved it or runs it (require("lemon-cluster/nconf") with rootPath + name); open any other by its path above.',
          },
        ),
        list.truncated ? h('p', { class: 'muted' }, 'The search stopped at its bounds: open deeper documents by their path.') : null,
      )
    }
    search.addEventListener('input', () => ((page = 0), draw()))
    draw()
  }

  // --- one document -----------------------------------------------------------------------------
  /** A masked secret as the core shows it: `ENC(…)`, during a key rotation with the key ids. */
  const masked = (v) => typeof v === 'string' && v.startsWith('ENC(…')

  /** Every leaf of `doc` as [key, value] with keys joined by `:` (as the stores name them). */
  function leaves(doc, prefix = '', out = []) {
    for (const [k, v] of Object.entries(doc || {})) {
      const key = prefix ? `${prefix}:${k}` : k
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) leaves(v, key, out)
      else out.push([key, v])
    }
    return out
  }

  /** A copy of `doc` with `key` (`a:b`) set to `value`: the document a one-key edit proposes. */
  function withKey(doc, key, value) {
    const copy = JSON.parse(JSON.stringify(doc || {}))
    const parts = key.split(':')
    let at = copy
    for (const p of parts.slice(0, -1)) {
      if (at[p] === null || typeof at[p] !== 'object' || Array.isArray(at[p])) at[p] = {}
      at = at[p]
    }
    at[parts[parts.length - 1]] = value
    return copy
  }

  /** Parses JSON typed in a value box; text that is not JSON is taken as a string. */
  function typed(text) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }

  /**
   * Shows `changes` (the core's diff), takes a message and writes with `write({ message })`;
   * `note` says what the write is based on.
   */
  function confirmWrite(title, changes, note, write, { requireChange = true } = {}) {
    writeDialog({
      id: 'config',
      title,
      note,
      verb: 'Publish',
      body: changes ? keyChanges({ changes }) : h('p', { class: 'muted' }, 'See above.'),
      disabled: requireChange && changes && changes.length === 0,
      write,
      done: (r) => (r && r.version !== undefined && r.version !== null ? `${title}: version ${r.version}` : `${title}: done`),
    })
  }

  /** One document: `target` is its path, `?layout=tree` for the tree layout. */
  async function renderDocument(target) {
    chrome('#/config')
    const [path, search] = target.split('?')
    fill(view, h('p', { class: 'muted' }, `Loading ${path}…`))
    const layout = new URLSearchParams(search || '').get('layout') || ''
    const q = (extra = {}) => query({ path, ...(layout ? { layout } : {}), ...extra })
    // Each part on its own: one that fails (no such document yet, a refused read) shows its
    // error in its card, and the rest of the page still works.
    const parts = await Promise.allSettled(
      ['document', 'history', 'instances', 'gray'].map((part) => api('GET', `/api/config/${part}?${q()}`)),
    )
    const [doc, history, instances, gray] = parts.map((p) => (p.status === 'fulfilled' ? p.value : null))
    const problem = (i) => failed(parts[i].reason)
    if (!history && !doc) return fill(view, h('p', null, h('a', { href: '#/config' }, '← All documents')), h('h1', null, path), problem(1))
    const current = doc ? doc.version : history && history.length ? history[history.length - 1].version : null
    const ctx = { path, layout, q, doc, current, history: history || [], instances: instances || [], gray, editor: may('editor') }
    const cards = window.lemonConfig
    const broken = (id, title, i) => h('div', { class: 'card', id }, h('h2', null, title), problem(i))
    fill(
      view,
      h('p', null, h('a', { href: '#/config' }, '← All documents')),
      h('h1', null, path),
      h(
        'p',
        { class: 'muted' },
        [
          doc && (doc.exists ? `version ${doc.version} · ${doc.layout} layout` : 'not in ZooKeeper yet: setting a key creates it'),
          doc && doc.external && 'changed outside lemon-cluster (recorded with the next write)',
          instances && `${instances.length} instances running it`,
        ]
          .filter(Boolean)
          .join(' · '),
      ),
      doc && doc.invalid ? h('p', { class: 'error' }, `The znode holds no usable document: ${doc.invalid}`) : null,
      doc ? documentCard(ctx) : broken('config-document', 'Document', 0),
      doc && ctx.editor ? editorCard(ctx) : null,
      gray ? cards.grayCard(ctx) : broken('config-gray', 'Gray release', 3),
      instances ? cards.instancesCard(instances, current) : broken('config-instances', 'Instances', 2),
      history ? cards.historyCard(ctx) : broken('config-history', 'History', 1),
      doc ? cards.compareCard(ctx) : null,
    )
  }

  /** The keys and values, secrets masked; an admin may reveal one (audited). */
  function documentCard({ path, layout, doc, editor }) {
    const rows = leaves(doc.document)
    const filter = h('input', { type: 'search', id: 'config-filter', placeholder: 'Filter keys', 'aria-label': 'Filter keys' })
    const box = h('div', { id: 'config-keys' })
    let page = 0
    const valueCell = ([key, value]) => {
      const cell = h('code', { class: 'config-value' }, stored(value))
      if (!masked(value) || !may('admin')) return cell
      const reveal = h(
        'button',
        {
          type: 'button',
          class: 'reveal',
          'aria-label': `reveal ${key}`,
          onclick: async () => {
            try {
              const r = await api('POST', '/api/config/reveal', { path, key, ...(layout ? { layout } : {}) })
              cell.textContent = JSON.stringify(r.value)
              reveal.remove()
            } catch (e) {
              toast(`Reveal ${key}: ${e.message}`, true)
            }
          },
        },
        'Reveal',
      )
      return h('span', { class: 'row' }, cell, reveal)
    }
    const editCell = ([key, value]) => {
      const input = h('input', {
        type: 'text',
        class: 'config-edit',
        value: masked(value) ? '' : JSON.stringify(value),
        placeholder: masked(value) ? 'new secret (sealed on write)' : 'JSON value',
        'aria-label': `new value of ${key}`,
      })
      return h(
        'span',
        { class: 'row' },
        input,
        h('button', { type: 'button', onclick: () => editKey({ path, layout, doc }, key, typed(input.value)) }, 'Set…'),
      )
    }
    const draw = () => {
      const f = filter.value.trim().toLowerCase()
      fill(
        box,
        paged(
          f ? rows.filter(([k]) => k.toLowerCase().includes(f)) : rows,
          [['Key', ([k]) => h('code', null, k)], ['Value', valueCell], editor ? ['Edit', editCell] : null].filter(Boolean),
          { page, onPage: (p) => ((page = p), draw()), empty: rows.length ? 'No key matches.' : 'The document has no key.' },
        ),
      )
    }
    filter.addEventListener('input', () => ((page = 0), draw()))
    draw()
    return h(
      'div',
      { class: 'card', id: 'config-document' },
      h('div', { class: 'row spread' }, h('h2', null, 'Document'), filter),
      h('p', { class: 'muted' }, 'Secrets show as ENC(…); only an admin may reveal one, and each reveal is in the audit log.'),
      box,
    )
  }

  /** One key set: the core's diff of the document with that key changed, then the write. */
  async function editKey({ path, layout, doc }, key, value) {
    let diff
    try {
      diff = await api('POST', '/api/config/preview', { path, document: withKey(doc.document, key, value), ...(layout ? { layout } : {}) })
    } catch (e) {
      return toast(`${key}: ${e.message}`, true)
    }
    confirmWrite(`Set ${key} — ${path}`, diff.changes, `Based on version ${doc.version}.`, (o) =>
      api('PUT', '/api/config/key', { path, key, value, ifVersion: doc.version, ...(layout ? { layout } : {}), ...o }),
    )
  }

  /** The whole document as JSON, checked by the core as you type, published after its diff. */
  function editorCard({ path, layout, doc }) {
    return h(
      'div',
      { class: 'card', id: 'config-editor' },
      h('h2', null, 'Edit the document'),
      h(
        'p',
        { class: 'muted' },
        'Checked as the stores check it as you type. A masked secret (ENC(…)) keeps the secret stored at its key; a new plain value where a secret was is sealed on write.',
      ),
      checkedEditor({
        id: 'config',
        label: 'the document (JSON)',
        value: doc.document || {},
        button: 'Review and publish…',
        waitForCheck: true,
        check: async (document) => {
          const d = await api('POST', '/api/config/preview', { path, document, ...(layout ? { layout } : {}) })
          return {
            ready: d.changes.length > 0,
            show: h('p', { class: 'ok' }, badge('valid', 'ok'), `${d.changes.length} change(s) from version ${doc.version}`),
            changes: d.changes,
          }
        },
        onReview: (_, last) => {
          if (!last) return
          const { document, changes } = last
          confirmWrite(`Replace the document — ${path}`, changes, `Based on version ${doc.version}.`, (o) =>
            api('PUT', '/api/config/document', { path, document, ifVersion: doc.version, ...(layout ? { layout } : {}), ...o }),
          )
        },
      }),
    )
  }

  // config-release.js adds the release cards (gray, instances, history, compare).
  window.lemonConfig = { stored, keyChanges, confirmWrite }
  page(/^\/config(\/.*)?$/, (target) => (target ? renderDocument(target) : renderDocuments()))
})()
