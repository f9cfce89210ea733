import type { RequestHandler } from 'express'
import type { AppConfig } from '../config/types'

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/**
 * `GET /` on `host` (APPS_INDEX_HOST, e.g. the demo's http://localhost:3000), which is no app's: a
 * browser gets a short page linking the apps this server serves, instead of 421. Only there, only a
 * page, only `/`: any other request on that host goes on to the 421.
 */
export function appsIndex(host: string, apps: readonly AppConfig[]): RequestHandler {
  const links = apps
    .filter((app) => !app.remote)
    .map(
      (app) =>
        `<li><a href="${escape(app.publicUrl.href)}">${escape(app.id)}</a>: ${escape(app.publicUrl.origin)}</li>`,
    )
    .join('\n')
  const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>keyward</title></head>
<body>
<h1>keyward</h1>
<p>This address serves no app: each app has a host of its own. Open one:</p>
<ul>
${links}
</ul>
</body>
</html>
`
  return function appsIndexPage(req, res, next) {
    const asked = req.host === host && req.path === '/' && (req.method === 'GET' || req.method === 'HEAD')
    if (!asked || req.accepts(['json', 'html']) !== 'html') return next()
    res.type('html').send(page)
  }
}
