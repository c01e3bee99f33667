#!/usr/bin/env node
// Entry point: lets Node run the TypeScript sources wherever lvsd is invoked from.
import { register } from 'tsx/esm/api';
register();
await import('./lvsd.ts');
