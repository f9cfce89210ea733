import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './temp-dir'

const root = join(__dirname, '..')

export interface Run {
  code: number
  out: string
}

/** Runs a command to its end (at most `timeoutMs`), its output kept; never throws for a failed exit. */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: `${stdout}${stderr}` }),
    )
  })
}

/** What `npm pack` would put in keyward's tarball, read from the repository as it is (nothing built). */
export async function packedFiles(): Promise<string[]> {
  const listed = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root })
  if (listed.code !== 0) throw new Error(`npm pack --dry-run failed:\n${listed.out}`)
  const [pack] = JSON.parse(listed.out.slice(listed.out.indexOf('['))) as { files: { path: string }[] }[]
  return pack.files.map((f) => f.path)
}

export interface Tarball {
  path: string
  /** Bytes of the .tgz, and of what it unpacks to. */
  size: number
  unpackedSize: number
}

/**
 * keyward's tarball, as `npm pack` makes it, from a build of its own in a temporary folder (`dir`):
 * the repository's files the package lists, and `src/` compiled there, so that a build running beside
 * it (the demo's) cannot change it halfway.
 */
export async function packKeyward(dir: string): Promise<Tarball> {
  const stage = join(dir, 'stage')
  mkdirSync(stage, { recursive: true })
  for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
    copyFileSync(join(root, file), join(stage, file))
  }
  const build = await run(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(stage, 'dist')],
    {
      cwd: root,
    },
  )
  if (build.code !== 0) throw new Error(`tsc failed:\n${build.out}`)
  const packed = await run('npm', ['pack', stage, '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: dir,
  })
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.out}`)
  const [pack] = JSON.parse(packed.out.slice(packed.out.indexOf('['))) as {
    filename: string
    size: number
    unpackedSize: number
  }[]
  return { path: join(dir, pack.filename), size: pack.size, unpackedSize: pack.unpackedSize }
}

/**
 * A new application outside the repository (a temporary folder), with keyward installed from
 * `tarball` beside `dependencies`, as `npm install` does it for a user. No install script runs.
 */
export async function scratchApp(
  dir: string,
  tarball: string,
  dependencies: string[],
  files: string[] = [],
): Promise<string> {
  const app = mkdtempSync(join(dir, 'app-'))
  for (const file of files) copyFileSync(file, join(app, file.split('/').pop()!))
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, version: '1.0.0' }))
  const installed = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', tarball, ...dependencies],
    { cwd: app, timeoutMs: 300_000 },
  )
  if (installed.code !== 0) throw new Error(`npm install failed in ${app}:\n${installed.out}`)
  return app
}

/** The version of a package as the scratch application has it installed. */
export const installedVersion = (app: string, name: string): string =>
  (JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version

/** A temporary folder of the test's own, outside the repository. */
export const scratchDir = (): string => tempDir('package')
