// An ES module application: import { keyward } from 'keyward', mounted in Express, against the real
// Keycloak and Redis the tests run (KEYCLOAK_URL, REDIS_URL). Prints one line of JSON: what it saw.
import express from 'express'
import { keyward, KeywardError, ConfigError } from 'keyward'
import { run } from './run-consumer.mjs'

await run({ express, keyward, KeywardError, ConfigError, kind: 'esm' })
