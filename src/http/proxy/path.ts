import { KeywardError } from '../problem'

const UPSTREAM_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/

/**
 * Whether a path segment is `.` or `..` to some server: after dropping `;…` (Tomcat, Jetty and Spring
 * drop path parameters before resolving dot segments, so `..;x` is `..` there) and percent-decoding.
 * A segment that does not decode is refused as well.
 */
function dotSegment(segment: string): boolean {
  const bare = segment.split(';', 1)[0]
  try {
    return /^\.{1,2}$/.test(decodeURIComponent(bare))
  } catch {
    return true
  }
}

/** An upstream, and the path below its base URL (still percent-encoded) with its query. */
export interface ApiTarget {
  name: string
  pathAndQuery: string
}

/**
 * A path and query below an upstream's base URL, as it may be passed on: it may not hold dot segments
 * (in any spelling, see `dotSegment`) or encoded slashes, which an upstream could resolve to outside
 * the path it serves.
 */
export function checkedPath(pathAndQuery: string): string {
  const q = pathAndQuery.indexOf('?')
  const path = q === -1 ? pathAndQuery : pathAndQuery.slice(0, q)
  if (path.split('/').some(dotSegment) || /%2f|%5c|\\/i.test(path)) {
    throw new KeywardError('invalid_request', 'The API path may not contain dot segments or encoded slashes.')
  }
  return pathAndQuery
}

/**
 * `/api/<upstream>/<rest>?<query>` → the upstream's name and the rest, checked (`checkedPath`). The
 * name must be written plainly (no encoding).
 */
export function apiTarget(url: string): ApiTarget {
  const rest = url.slice('/api/'.length)
  const end = rest.search(/[/?]/)
  const name = end === -1 ? rest : rest.slice(0, end)
  if (name.includes('%'))
    throw new KeywardError('invalid_request', 'Name the upstream plainly: /api/<upstream>/<path>.')
  if (!UPSTREAM_NAME.test(name)) {
    throw new KeywardError('unknown_upstream', `No upstream is called ${JSON.stringify(name.slice(0, 64))}.`)
  }
  return { name, pathAndQuery: checkedPath(end === -1 ? '' : rest.slice(end)) }
}
