'use strict'
// The typings a strict TypeScript project gets: one `tsc --strict --checkJs` run over every
// js/ts block of README.md and docs/*.md (each as its own module, ESM when it imports or awaits
// at the top level), the type tests in __test__/typings/, and two generated files that make tsc
// compare the declarations with the facts: the value exports with the runtime exports, and the
// error code union with docs/errors.md. A block that is a fragment (it uses names it does not
// define) is marked `<!-- snippet: fragment -->` on the line before its fence and skipped.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { promisify } = require('node:util')

const root = path.join(__dirname, '..')
const run = promisify(execFile)
const FRAGMENT = '<!-- snippet: fragment -->'

/** Every ```js / ```ts block of a markdown file: `{ lang, code, line, fragment }`. */
function blocks(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const out = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(js|javascript|ts|typescript)\s*$/.exec(lines[i])
    if (!open) continue
    const start = i + 1
    let end = start
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
    out.push({
      lang: open[1].startsWith('t') ? 'ts' : 'js',
      code: lines.slice(start, end).join('\n'),
      line: start + 1,
      fragment: i > 0 && lines[i - 1].trim() === FRAGMENT,
    })
    i = end
  }
  return out
}

/** A block is ESM when it imports or awaits at the top level (CommonJS cannot). */
function extension({ lang, code }) {
  const esm = /^import\s/m.test(code) || /^export\s/m.test(code) || /^(const|let|var)?[^\n]*\bawait\b/m.test(stripFunctions(code))
  return lang === 'ts' ? (esm ? '.mts' : '.cts') : esm ? '.mjs' : '.cjs'
}

// Top-level await detection: blank out bodies of functions so an `await` inside one is not seen.
function stripFunctions(code) {
  let out = ''
  let depth = 0
  for (const line of code.split('\n')) {
    if (depth === 0) out += line + '\n'
    for (const ch of line) {
      if (ch === '{') depth++
      else if (ch === '}') depth = Math.max(0, depth - 1)
    }
  }
  return out
}

function docFiles() {
  const docs = fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md'))
  return ['README.md', ...docs.sort().map((f) => path.join('docs', f))]
}

/** The codes of docs/errors.md's error table (the first one; warnings have their own). */
function documentedCodes() {
  const text = fs.readFileSync(path.join(root, 'docs', 'errors.md'), 'utf8')
  const errors = text.split(/^## /m)[0]
  return [...errors.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1])
}

test('LemonErrorCode in lib/index.d.ts lists exactly the codes of the error table of docs/errors.md', () => {
  const typings = fs.readFileSync(path.join(root, 'lib', 'index.d.ts'), 'utf8')
  const union = /export type LemonErrorCode =([^]*?)\n\n/.exec(typings)[1]
  const typed = [...union.matchAll(/'(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1]).sort()
  const documented = documentedCodes().sort()
  const missing = documented.filter((c) => !typed.includes(c))
  const extra = typed.filter((c) => !documented.includes(c))
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'add what is missing to LemonErrorCode, remove what is extra')
})

test("README's error code index lists exactly the codes of docs/errors.md, each table in its row", () => {
  const codes = (text) => [...new Set([...text.matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]))].sort()
  const errors = fs.readFileSync(path.join(root, 'docs', 'errors.md'), 'utf8')
  const tables = errors.split(/^## /m).map((part) => [...part.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]))
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
  const index = /^## Error codes\n([^]*?)^## /m.exec(readme)
  assert.ok(index, 'README.md has an "## Error codes" section')
  const rows = index[1]
    .split('\n')
    .filter((l) => l.startsWith('| ['))
    .map(codes)
  const expected = tables.filter((t) => t.length > 0).map((t) => [...new Set(t)].sort())
  assert.deepEqual(rows, expected, 'README.md "Error codes": one row per table of docs/errors.md, with its codes')
})

test('README and docs snippets, the type tests, runtime names and error codes pass tsc --strict', async () => {
  // Inside the checkout, so `lemon-cluster` resolves to it by its own name and the dev
  // dependencies' typings are found.
  fs.mkdirSync(path.join(root, 'target'), { recursive: true })
  const dir = fs.mkdtempSync(path.join(root, 'target', 'typings-'))
  try {
    const sources = new Map()
    let checked = 0
    for (const doc of docFiles()) {
      for (const block of blocks(path.join(root, doc))) {
        if (block.fragment) continue
        // Node 20 runs a file with a top-level await as an ES module, where `require` is not defined.
        const ext = extension(block)
        assert.ok(
          !(ext.startsWith('.m') && /\brequire\(/.test(block.code)),
          `${doc}:${block.line}: a snippet with import or top-level await must not use require()`,
        )
        const name = `${doc.replace(/[/.]/g, '_')}_L${block.line}${ext}`
        fs.writeFileSync(path.join(dir, name), block.code + '\n')
        sources.set(name, { doc, line: block.line })
        checked++
      }
    }
    assert.ok(checked >= 4, `only ${checked} snippets to check`)

    for (const file of fs.readdirSync(path.join(__dirname, 'typings'))) {
      fs.copyFileSync(path.join(__dirname, 'typings', file), path.join(dir, file))
    }
    // The value exports: tsc reports a runtime name that is not declared (excess property) and a
    // declared value that does not exist at runtime (missing property).
    // What Node's ESM import gives (named exports found by its CommonJS analysis, and default).
    const names = async (spec) => {
      const script = `console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(spec)}))))`
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root })
      return JSON.parse(stdout).sort()
    }
    const exact = (spec, list) =>
      `import * as m from '${spec}'\n` +
      `const names: { [K in keyof typeof m]: true } = { ${list.map((n) => `${JSON.stringify(n)}: true`).join(', ')} }\n` +
      'console.log(names)\n'
    fs.writeFileSync(path.join(dir, 'runtime-names.mts'), exact('lemon-cluster', await names('lemon-cluster')))
    const nconfNames = Object.keys(require('../lib/nconf')).sort()
    fs.writeFileSync(
      path.join(dir, 'runtime-names-nconf.cts'),
      "import register = require('lemon-cluster/nconf')\n" +
        `const names: { [K in keyof typeof register]: true } = { ${nconfNames.map((n) => `${n}: true`).join(', ')} }\n` +
        'console.log(names)\n',
    )
    // Every option, event and result type of the binding is importable from the package (the
    // configuration store's update type is internal to lemon-cluster/nconf).
    const INTERNAL_TYPES = new Set(['ConfigUpdate'])
    const bindingTypes = [...fs.readFileSync(path.join(root, 'binding.d.ts'), 'utf8').matchAll(/^export interface (\w+)/gm)]
      .map((m) => m[1])
      .filter((n) => !INTERNAL_TYPES.has(n))
    fs.writeFileSync(path.join(dir, 'binding-types.mts'), `import type { ${bindingTypes.join(', ')} } from 'lemon-cluster'\n`)
    // The error code union and docs/errors.md, both ways.
    fs.writeFileSync(
      path.join(dir, 'error-codes.mts'),
      "import type { LemonErrorCode } from 'lemon-cluster'\n" +
        `const codes: { [K in LemonErrorCode]: true } = { ${documentedCodes()
          .map((c) => `${c}: true`)
          .join(', ')} }\n` +
        'console.log(codes)\n',
    )
    // Two passes: everything with the libraries' own .d.ts skipped (some @types packages do not
    // pass a strict check themselves), then lemon-cluster's .d.ts files checked as well.
    fs.writeFileSync(path.join(dir, 'declarations.mts'), "import 'lemon-cluster'\nimport 'lemon-cluster/nconf'\n")
    const compilerOptions = {
      strict: true,
      noEmit: true,
      allowJs: true,
      checkJs: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      moduleDetection: 'force',
      target: 'es2022',
      types: ['node'],
    }
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { ...compilerOptions, skipLibCheck: true }, include: ['*'] }),
    )
    fs.writeFileSync(
      path.join(dir, 'tsconfig.declarations.json'),
      JSON.stringify({ compilerOptions: { ...compilerOptions, skipLibCheck: false }, files: ['declarations.mts'] }),
    )
    let output = ''
    const tsc = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc')
    for (const project of ['tsconfig.json', 'tsconfig.declarations.json']) {
      try {
        await run(process.execPath, [tsc, '-p', path.join(dir, project)], { cwd: root, timeout: 300000 })
      } catch (e) {
        output += e.stdout || e.stderr ? `${e.stdout}${e.stderr}` : String(e)
      }
    }
    // Point each error at the markdown line it comes from.
    const located = output.replace(/^(?:.*[/\\])?([\w.-]+)\((\d+),(\d+)\)/gm, (all, file, line, col) => {
      const source = sources.get(file)
      return source ? `${source.doc}:${source.line + Number(line) - 1}:${col}` : all
    })
    assert.equal(located.trim(), '', `tsc --strict found:\n${located}`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the snippet extractor: fences, languages, the fragment marker, ESM detection', () => {
  const file = path.join(fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'md-')), 'x.md')
  fs.writeFileSync(
    file,
    [
      '```js',
      "const a = require('a')",
      '```',
      FRAGMENT,
      '```ts',
      'svc.close()',
      '```',
      '```sh',
      'npm test',
      '```',
      '```js',
      'async function f() { await 1 }',
      'const x = await f()',
      '```',
    ].join('\n'),
  )
  const found = blocks(file)
  assert.deepEqual(
    found.map((b) => [b.lang, b.line, b.fragment, extension(b)]),
    [
      ['js', 2, false, '.cjs'],
      ['ts', 6, true, '.cts'],
      ['js', 12, false, '.mjs'],
    ],
  )
  assert.equal(extension({ lang: 'js', code: 'async function f() {\n  await 1\n}' }), '.cjs')
  fs.rmSync(path.dirname(file), { recursive: true, force: true })
})
