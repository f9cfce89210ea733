/**
 * A configuration keyward cannot run with: `problems` names each wrong option (by its path in the
 * options, or its environment variable), what was given (never a secret), and what a right value is.
 * @public
 */
export class ConfigError extends Error {
  /** One line per problem, e.g. `keycloak.url: the Keycloak base URL, e.g. https://sso.example.com (not set)`. */
  readonly problems: string[]
  /** @param problems - one line per problem */
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}
