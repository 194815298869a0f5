import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorText } from '../static/js/errtext.js';

test('the message only, never the code', () => {
  assert.equal(errorText({ code: 'forbidden', message: 'You may not do that.' }), 'You may not do that.');
});

test('the API field prefix is dropped', () => {
  assert.equal(errorText({ code: 'invalid', field: 'settings.host', message: 'settings.host: must be a host name' }), 'must be a host name');
  assert.equal(errorText({ code: 'invalid', field: 'name', message: 'name: a datasource with that name already exists' }), 'a datasource with that name already exists');
});

test('a message that does not start with its field is kept', () => {
  assert.equal(errorText({ code: 'invalid', field: 'kind', message: 'SQLite datasources are off on this gateway.' }), 'SQLite datasources are off on this gateway.');
});

test('no message', () => {
  assert.equal(errorText({ code: 'internal' }), 'Something went wrong.');
  assert.equal(errorText(undefined), 'Something went wrong.');
});
