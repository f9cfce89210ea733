/** One field of a parsed JSON or form body, whatever the body turned out to be. */
export const field = (body: unknown, name: string): unknown =>
  body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
