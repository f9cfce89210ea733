import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

// The shape of src/ that docs/architecture.md draws, held to: folders depend one way,
// routes do not reach into each other, files stay small enough to read whole.
const src = join(__dirname, '../../src')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** Project-relative imports of each source file, resolved to files under src/. */
const imports = new Map(
  files(src).map((file) => {
    const text = readFileSync(file, 'utf8')
    const targets = [...text.matchAll(/^(?:import|export)(?:[^'"]*from)?\s*'(\.[^']+)'/gm)].map((m) =>
      relative(src, resolve(dirname(file), m[1])),
    )
    return [relative(src, file), targets]
  }),
)

/** The top-level folder (or file) of a path under src/. */
const area = (path: string) => path.split('/')[0]

describe('the layout of src/', () => {
  const edges = new Set<string>()
  for (const [file, targets] of imports) {
    for (const target of targets) if (area(file) !== area(target)) edges.add(`${area(file)} -> ${area(target)}`)
  }

  test('no two folders import each other; config/ imports nothing of the project, domain/ only its types', () => {
    const both = [...edges].filter((e) => edges.has(e.split(' -> ').reverse().join(' -> ')))
    expect(both).toEqual([])
    expect([...edges].filter((e) => e.startsWith('config '))).toEqual([])
    for (const [file, targets] of imports) {
      if (area(file) === 'domain') {
        expect({ file, outside: targets.filter((t) => area(t) !== 'domain' && t !== 'config/types') }).toEqual({
          file,
          outside: [],
        })
      }
    }
  })

  test('no two files import each other', () => {
    const importsOf = (file: string) => (imports.get(file) ?? []).map((t) => `${t}.ts`)
    const mutual = [...imports.keys()].flatMap((file) =>
      importsOf(file)
        .filter((target) => importsOf(target).includes(file) && file < target)
        .map((target) => `${file} <-> ${target}`),
    )
    expect(mutual).toEqual([])
  })

  test('the two ways keyward runs sit on top: nothing imports server/ or library/, and they import no other', () => {
    const top = ['server', 'library', 'index.ts']
    expect([...edges].filter((e) => top.includes(e.split(' -> ')[1]) && e !== 'index.ts -> library')).toEqual([])
  })

  test('store/ and oidc/ depend only on domain/, config types and the logger; only engine.ts wires them to the rest', () => {
    for (const [file, targets] of imports) {
      if (['store', 'oidc'].includes(area(file))) {
        expect({
          file,
          outside: targets.filter(
            (t) => !['store', 'oidc', 'domain', 'log'].includes(area(t).replace(/\.ts$/, '')) && t !== 'config/types',
          ),
        }).toEqual({ file, outside: [] })
      }
      if (area(file) === 'http') {
        expect({ file, adapters: targets.filter((t) => ['store', 'oidc'].includes(area(t))) }).toEqual({
          file,
          adapters: [],
        })
      }
    }
  })

  test('no route imports another route; no middleware imports a route', () => {
    for (const [file, targets] of imports) {
      if (file.startsWith('http/routes/') || file.startsWith('http/middleware/')) {
        expect({ file, routes: targets.filter((t) => t.startsWith('http/routes/')) }).toEqual({ file, routes: [] })
      }
    }
  })

  test('no source file is over 300 lines', () => {
    const long = [...imports.keys()].filter((file) => readFileSync(join(src, file), 'utf8').split('\n').length > 300)
    expect(long).toEqual([])
  })
})
