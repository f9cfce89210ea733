import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A new folder for a test's files (a private Redis's data, a configuration, certificates): inside the
 * run's own folder, which the tests' global teardown (or a benchmark's `main`) removes whatever
 * happened, so a run leaves nothing in the temporary directory. Elsewhere (`npm run test:unit`),
 * under the system's, for its caller to remove.
 */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(process.env.KEYWARD_TEST_RUN_DIR ?? tmpdir(), `keyward-${prefix}-`))
}
