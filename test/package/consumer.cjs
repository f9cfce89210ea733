// A CommonJS application: require('keyward'), mounted in Express (see consumer.mjs).
const express = require('express')
const { keyward, KeywardError, ConfigError } = require('keyward')

import('./run-consumer.mjs').then(({ run }) => run({ express, keyward, KeywardError, ConfigError, kind: 'cjs' }))
