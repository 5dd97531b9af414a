#!/usr/bin/env node
// Signs a development JWT for a user: node scripts/token.mjs USER [--groups 'a,room:*'] [--perms broadcast]
//   [--publish 'live:*'] [--contacts 'bob,carol'] [--ttl 1h]
// Uses SWITCHBOARD_AUTH__SECRET, or the development secret from config.yaml.
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { parse } from 'yaml';

const args = process.argv.slice(2);
const user = args[0];
if (!user || user.startsWith('--')) {
  process.stderr.write("usage: node scripts/token.mjs USER [--groups 'lobby,room:*'] [--perms broadcast] [--publish 'live:*'] [--contacts bob,carol] [--ttl 1h]\n");
  process.exit(2);
}
const option = (name) => {
  const i = args.indexOf(`--${name}`);
  return i > 0 ? args[i + 1] : undefined;
};
const list = (v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const secret = process.env.SWITCHBOARD_AUTH__SECRET ?? parse(readFileSync(new URL('../config.yaml', import.meta.url), 'utf8')).Auth.Secret;
const claims = {};
if (list(option('groups'))) claims.groups = list(option('groups'));
if (list(option('perms'))) claims.perms = list(option('perms'));
if (list(option('publish'))) claims.publish = list(option('publish'));
if (list(option('contacts'))) claims.contacts = list(option('contacts'));
const jwt = await new SignJWT(claims)
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject(user)
  .setIssuedAt()
  .setExpirationTime(option('ttl') ?? '1h')
  .sign(new TextEncoder().encode(secret));
process.stdout.write(`${jwt}\n`);
