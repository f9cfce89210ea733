/*
 * Copyright 2016 Red Hat Inc. All rights reserved.
 *
 * Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy of
 * the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 * WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 * License for the specific language governing permissions and limitations under
 * the License.
 *
 * keycloak-connect's example application (example/index.js of keycloak-nodejs-connect), ported to
 * keyward. Each route keeps its path; what changed, and why, is said where it happens and in README.md.
 */
/* global __dirname */
'use strict'

const { randomBytes } = require('node:crypto')
const { readFile } = require('node:fs/promises')
const path = require('node:path')
const express = require('express')
const { keyward, ConfigError } = require('keyward')

// ---------------------------------------------------------------------------------------------------
// Configuration. keycloak-connect read keycloak.json from the working directory; keyward takes its
// options in code, here from the environment, with defaults for this repository's dev realm
// (scripts/keycloak.sh: realm `keyward`, confidential client `keyward-web`).

const env = (name, fallback) => process.env[name] || fallback
const PORT = Number(env('PORT', '3000'))
const PUBLIC_URL = env('PUBLIC_URL', `http://localhost:${PORT}`)
const KEYCLOAK_URL = env('KEYCLOAK_URL', 'http://127.0.0.1:8180')
// The role /protected/resource asks for (see there): `realm:<role>`, `<client>:<role>` or `<role>` (a
// role of this app's own client), as keycloak-connect's protect() spelled them.
const PROTECTED_ROLE = env('PROTECTED_ROLE', 'realm:user')
// Plain http to Keycloak is for development only; allowed by default when Keycloak is on this machine.
const DEV_ALLOW_HTTP = process.env.DEV_ALLOW_HTTP
  ? process.env.DEV_ALLOW_HTTP === 'true'
  : /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/|$)/.test(KEYCLOAK_URL)

/**
 * A secret from the environment; in development, when there is none, a random one for this run (so
 * sessions do not outlive a restart). In production (NODE_ENV=production) it must be given.
 */
function secret(name, make) {
  if (process.env[name]) return process.env[name]
  if (process.env.NODE_ENV === 'production') {
    console.error(`${name} must be set (NODE_ENV=production)`)
    process.exit(2)
  }
  console.warn(`${name} is not set: using a random one for this run; sessions end when the app stops`)
  return make()
}

// keycloak-connect: `new Keycloak({ store: memoryStore })` with keycloak.json, plus express-session and
// its MemoryStore, which held the whole token set. keyward keeps the tokens itself, encrypted in Redis,
// and gives the browser only an opaque session cookie: no express-session, no store to pass.
let kw
try {
  kw = keyward({
    publicUrl: PUBLIC_URL,
    keycloak: {
      url: KEYCLOAK_URL,
      realm: env('KEYCLOAK_REALM', 'keyward'),
      clientId: env('CLIENT_ID', 'keyward-web'),
      // The dev realm's published secret (keycloak/keyward-realm.json); any real client has its own.
      clientSecret: env('CLIENT_SECRET', 'keyward-web-dev-secret'),
    },
    secrets: {
      session: secret('SESSION_SECRET', () => randomBytes(32).toString('base64url')),
      tokenEncryptionKeys: secret('TOKEN_ENCRYPTION_KEYS', () => `k1:${randomBytes(32).toString('base64')}`),
    },
    redis: {
      url: env('REDIS_URL', 'redis://127.0.0.1:6379'),
      ...(process.env.REDIS_PREFIX ? { prefix: process.env.REDIS_PREFIX } : {}),
    },
    devAllowHttp: DEV_ALLOW_HTTP,
  })
} catch (err) {
  // keyward names every wrong option, with a right value for it.
  if (!(err instanceof ConfigError)) throw err
  console.error(err.message)
  process.exit(2)
}

const app = express()

// ---------------------------------------------------------------------------------------------------
// Views. The original used hogan-express (unmaintained); this is the same thing for its one need:
// `{{name}}` in view/*.html replaced by the HTML-escaped value, as mustache does.

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])

app.engine('html', (file, locals, done) => {
  readFile(file, 'utf8').then(
    (template) =>
      done(
        null,
        template.replace(/\{\{(\w+)\}\}/g, (_, name) => escapeHtml(locals[name] ?? '')),
      ),
    done,
  )
})
app.set('view engine', 'html')
app.set('views', path.join(__dirname, 'view'))

// The pages load their style and script from here, so that a strict Content-Security-Policy holds:
// no inline script or style anywhere.
app.use((_req, res, next) => {
  res.setHeader('Content-Security-Policy', "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
  next()
})
app.use(express.static(path.join(__dirname, 'public')))
app.get('/favicon.ico', (_req, res) => res.status(204).end()) // no icon; rather than a 404 in the console

// keyward's middleware: its routes under /auth (login, callback, logout, session, back-channel
// logout…) and `req.keyward` on every other request. It replaces keycloak.middleware({ logout, admin }):
//   keycloak-connect                        keyward
//   ?auth_callback=1 on any URL             GET  /auth/callback (register PUBLIC_URL/auth/callback)
//   /logout (GET)                           POST /auth/logout, or req.keyward.logout() (below)
//   /k_logout (admin URL)                   POST /auth/backchannel-logout (the client's back-channel logout URL)
//   /k_push_not_before                      none: Keycloak refuses the refresh of a revoked session instead
app.use(kw)

// A normal un-protected public URL. In the original it came before the session and Keycloak middleware,
// so it never knew who was there; here it may, and says so in the Events box.
app.get('/', function (req, res) {
  res.render('index', {
    event: req.keyward.isAuthenticated() ? `Logged in as ${req.keyward.user.preferred_username}` : '',
  })
})

/**
 * What the pages show in their Result box. keycloak-connect's example printed
 * req.session['keycloak-token'] here: the raw token set (access, refresh and ID tokens). keyward never
 * lets a token reach the browser, and the app never needs to print one: the page shows the user's
 * claims (from the ID token, checked by keyward) and the session's state instead.
 */
const whoIsThere = (req) => JSON.stringify({ user: req.keyward.user, session: req.keyward.session }, null, 4)

// keycloak.protect() → kw.requireSession(): a browser without a session goes to Keycloak's login and
// comes back here; an API call gets 401 problem+json instead (keycloak-connect redirected those too).
app.get('/login', kw.requireSession(), function (req, res) {
  res.render('index', {
    result: whoIsThere(req),
    event: '1. Authentication\n2. Login',
  })
})

// keycloak.enforcer(['resource:view', 'resource:write'], { resource_server_id: 'nodejs-apiserver' }) asked
// Keycloak's Authorization Services (UMA) for those permissions on every request. keyward has no UMA
// enforcer: this route is gated on a role of the access token instead (PROTECTED_ROLE), read from the
// current token, refreshed when due. Without it: 403 problem+json `forbidden`. A rule over other claims
// is kw.requireClaims(), e.g. kw.requireClaims((claims) => claims.scope.split(' ').includes('orders')).
// Unlike the enforcer, a visitor who is not logged in is sent to the login first.
app.get('/protected/resource', kw.requireRole(PROTECTED_ROLE), function (req, res) {
  res.render('index', {
    result: whoIsThere(req),
    event: `1. Access granted: the session holds the role ${PROTECTED_ROLE}\n`,
  })
})

// Logout. keycloak-connect answered GET /logout with a redirect to Keycloak's logout: any page of any
// site could log the user out with an <img src=".../logout">. keyward's logout changes state, so it is
// a POST that must carry the header `X-CSRF: 1`, which a cross-site form or image cannot send.
// - GET /logout is a page with a "Log out" button (for links and bookmarks to the old URL); it does
//   not log out by itself, or it would be as CSRF-prone as the original.
// - POST /logout (from public/logout.js, which the nav's Logout link also uses) ends the session at
//   Keycloak and here, and answers Keycloak's end-session URL; the browser goes there so that Keycloak
//   clears its own cookies, and comes back to `returnTo` (the original's `redirect_url`), `/` by default.
app.get('/logout', function (req, res) {
  res.render('logout', {
    event: req.keyward.isAuthenticated()
      ? `Logged in as ${req.keyward.user.preferred_username}: press "Log out" to end the session.`
      : 'Not logged in.',
  })
})
app.post('/logout', kw.csrf(), async function (req, res) {
  const returnTo = typeof req.query.returnTo === 'string' ? req.query.returnTo : '/'
  res.json(await req.keyward.logout({ returnTo }))
})

// keyward's errors that reach Express (an invalid returnTo, Keycloak away…) as problem+json.
app.use(kw.errorHandler())

// keycloak-connect's example listened at once; keyward's first requests would wait for Redis and
// Keycloak's discovery, so this listens once both answer.
kw.ready().then(
  () => {
    const server = app.listen(PORT, () => console.log('Example app listening at %s', PUBLIC_URL))
    const stop = () => {
      server.close()
      server.closeIdleConnections()
      kw.close().then(
        () => process.exit(0),
        () => process.exit(1),
      )
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  },
  (err) => {
    console.error(err.message)
    process.exit(1)
  },
)
