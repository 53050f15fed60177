// The console's configuration pages: the documents the stores save and run, one document with
// its history and the instances running it. Drawn with app.js's parts (window.lemonConsole),
// every value put on the page as text; every answer is `lemon.Admin`'s (docs/console.md).
'use strict'
;(() => {
  const { h, fill, badge, api, failed, paged, when, ago, chrome, view } = window.lemonConsole

  const docHash = (path) => `#/config${path}`
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
            ['Document', (d) => h('a', { href: docHash(d.path), class: 'document-link' }, d.path)],
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
  async function renderDocument(path) {
    chrome('#/config')
    fill(view, h('p', { class: 'muted' }, `Loading ${path}…`))
    let history, instances
    try {
      ;[history, instances] = await Promise.all([
        api('GET', `/api/config/history?${query({ path })}`),
        api('GET', `/api/config/instances?${query({ path })}`),
      ])
    } catch (e) {
      return fill(view, h('p', null, h('a', { href: '#/config' }, '← All documents')), h('h1', null, path), failed(e))
    }
    const newest = history.length ? history[history.length - 1].version : null
    fill(
      view,
      h('p', null, h('a', { href: '#/config' }, '← All documents')),
      h('h1', null, path),
      h('p', { class: 'muted' }, `${history.length} recorded versions · ${instances.length} instances running it`),
      instancesCard(instances, newest),
      historyCard(history),
    )
  }

  function instancesCard(instances, newest) {
    return h(
      'div',
      { class: 'card', id: 'config-instances' },
      h('h2', null, 'Instances'),
      paged(
        instances,
        [
          ['Instance', (i) => h('code', null, i.instance)],
          ['Version', (i) => (i.version === null || i.version === undefined ? 'unrecorded' : i.version), 'num'],
          [
            'State',
            (i) =>
              i.version !== null && i.version !== undefined && i.version === newest ? badge('current', 'ok') : badge('behind', 'warn'),
          ],
          ['Source', (i) => (i.source === 'snapshot' ? badge('snapshot', 'warn') : i.source || '—')],
        ],
        { empty: 'No store runs this document now (each running store keeps an ephemeral node beside it).' },
      ),
    )
  }

  function historyCard(history) {
    return h(
      'div',
      { class: 'card', id: 'config-history' },
      h('h2', null, 'History'),
      paged(
        [...history].reverse(),
        [
          ['Version', (v) => v.version, 'num'],
          ['When', (v) => when(v.at)],
          ['Who', (v) => v.who],
          ['Action', (v) => (v.external ? badge('external', 'warn') : v.action)],
          ['Message', (v) => v.message || '—'],
          ['Changes', keyChanges],
        ],
        { empty: 'No recorded version: the stores record every save here (historyLimit).' },
      ),
    )
  }

  window.lemonConfig = { renderDocuments, renderDocument, stored, keyChanges }
})()
