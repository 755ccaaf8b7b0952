import assert from 'node:assert/strict';
import { test } from 'node:test';
import { remoteAddressAllowed } from './bound-cidrs.js';

test('a token without bound CIDRs is usable from anywhere, even from an unknown address', () => {
  assert.equal(remoteAddressAllowed('203.0.113.9', undefined), true);
  assert.equal(remoteAddressAllowed('', []), true);
});

test('bound CIDRs admit addresses inside them, IPv4 and IPv6, a bare IP as its single address', () => {
  const cidrs = ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'];
  assert.equal(remoteAddressAllowed('10.200.1.1', cidrs), true);
  assert.equal(remoteAddressAllowed('192.0.2.7', cidrs), true);
  assert.equal(remoteAddressAllowed('2001:db8:1::5', cidrs), true);
  assert.equal(remoteAddressAllowed('192.0.2.8', cidrs), false);
  assert.equal(remoteAddressAllowed('11.0.0.1', cidrs), false);
  assert.equal(remoteAddressAllowed('2001:db9::1', cidrs), false);
});

test('bound CIDRs fail closed: an unknown address is outside, and a malformed block admits nothing', () => {
  assert.equal(remoteAddressAllowed(undefined, ['0.0.0.0/0']), false);
  assert.equal(remoteAddressAllowed('', ['0.0.0.0/0']), false);
  assert.equal(remoteAddressAllowed('10.0.0.1', ['10.0.0.0/33', 'not-an-ip']), false);
});
