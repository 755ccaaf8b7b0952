import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convertField, conversionErrorMessage, FieldConversionError, type FieldType, goValue, zeroValue } from './fields.js';

/** The text after "Field validation failed: " that Vault would print for this input. */
function failure(type: FieldType, value: unknown, field = 'f'): string {
  try {
    convertField(type, value);
  } catch (err) {
    assert.ok(err instanceof FieldConversionError);
    return conversionErrorMessage(field, value, err);
  }
  assert.fail(`${type} accepted ${JSON.stringify(value)}`);
}

test('string: strings as given, numbers as text, bools weakly as 1/0 (mapstructure), lists and maps refused', () => {
  assert.equal(convertField('string', 'x'), 'x');
  assert.equal(convertField('string', 42), '42');
  assert.equal(convertField('string', 1.5), '1.5');
  assert.equal(convertField('string', true), '1');
  assert.equal(convertField('string', false), '0');
  assert.equal(
    failure('string', ['a', 'b'], 'value'),
    `error converting input [a b] for field "value": '' expected type 'string', got unconvertible type '[]interface {}', value: '[a b]'`,
  );
  assert.equal(
    failure('string', { b: 1, a: 'x' }),
    `error converting input map[a:x b:1] for field "f": '' expected type 'string', got unconvertible type 'map[string]interface {}', value: 'map[a:x b:1]'`,
  );
});

test('int: integers, integer text, bools; fractions, words and lists refused with Go texts', () => {
  assert.equal(convertField('int', 7), 7);
  assert.equal(convertField('int', '-12'), -12);
  assert.equal(convertField('int', ''), 0);
  assert.equal(convertField('int', true), 1);
  assert.equal(
    failure('int', 'abc', 'err_type'),
    `error converting input abc for field "err_type": cannot parse '' as int: strconv.ParseInt: parsing "abc": invalid syntax`,
  );
  assert.equal(
    failure('int', 1.5),
    `error converting input 1.5 for field "f": error decoding json.Number into : strconv.ParseInt: parsing "1.5": invalid syntax`,
  );
  assert.match(failure('int', '99999999999999999999'), /value out of range$/);
  assert.equal(
    failure('int', [1]),
    `error converting input [1] for field "f": '' expected type 'int', got unconvertible type '[]interface {}', value: '[1]'`,
  );
});

test("bool: Go's ParseBool words, numbers, empty text; anything else refused", () => {
  for (const yes of [true, 'true', 'TRUE', 'True', 't', 'T', '1', 1, -3]) assert.equal(convertField('bool', yes), true, String(yes));
  for (const no of [false, 'false', 'FALSE', 'False', 'f', 'F', '0', 0, '']) assert.equal(convertField('bool', no), false, String(no));
  assert.equal(
    failure('bool', 'yes', 'on'),
    `error converting input yes for field "on": cannot parse '' as bool: strconv.ParseBool: parsing "yes": invalid syntax`,
  );
  assert.match(failure('bool', ['x']), /expected type 'bool', got unconvertible type '\[\]interface \{\}'/);
});

test('duration: seconds, days, Go durations; truncated to whole seconds; negatives and junk refused', () => {
  assert.equal(convertField('duration', 90), 90);
  assert.equal(convertField('duration', '90'), 90);
  assert.equal(convertField('duration', ''), 0);
  assert.equal(convertField('duration', '2d'), 172_800);
  assert.equal(convertField('duration', '1h30m'), 5400);
  assert.equal(convertField('duration', '1.5h'), 5400);
  assert.equal(convertField('duration', '1500ms'), 1);
  assert.equal(convertField('duration', '0'), 0);
  assert.equal(failure('duration', 'soon', 'ttl'), `error converting input soon for field "ttl": time: invalid duration "soon"`);
  assert.equal(failure('duration', '5y'), `error converting input 5y for field "f": time: unknown unit "y" in duration "5y"`);
  assert.equal(failure('duration', 1.5), `error converting input 1.5 for field "f": time: missing unit in duration "1.5"`);
  assert.equal(failure('duration', '-5'), `error converting input -5 for field "f": cannot provide negative value '-5'`);
  assert.equal(failure('duration', '-1h'), `error converting input -1h for field "f": cannot provide negative value '-3600'`);
  assert.equal(failure('duration', 'xd'), `error converting input xd for field "f": strconv.ParseInt: parsing "x": invalid syntax`);
  assert.equal(failure('duration', true), `error converting input true for field "f": could not parse duration from input`);
});

test('map: objects; a list of objects merges (weak decoding); other values refused', () => {
  assert.deepEqual(convertField('map', { a: 1 }), { a: 1 });
  assert.deepEqual(convertField('map', []), {});
  assert.deepEqual(convertField('map', [{ a: 1 }, { b: 2 }]), { a: 1, b: 2 });
  assert.equal(failure('map', 'a=b', 'meta'), `error converting input a=b for field "meta": '' expected a map, got 'string'`);
  assert.equal(failure('map', ['x']), `error converting input [x] for field "f": '[0]' expected a map, got 'string'`);
});

test('list: lists of scalars as strings, trimmed; one value lifted; "" is empty; maps refused', () => {
  assert.deepEqual(convertField('list', [' a ', 2, true]), ['a', '2', '1']);
  assert.deepEqual(convertField('list', 'a,b'), ['a,b']);
  assert.deepEqual(convertField('list', ''), []);
  assert.deepEqual(convertField('list', []), []);
  assert.equal(failure('list', { a: 1 }), `error converting input map[a:1] for field "f": '' source data must be an array or slice, got map`);
  assert.match(failure('list', [['nested']]), /'\[0\]' expected type 'string', got unconvertible type '\[\]interface \{\}'/);
});

test('comma-list: a string is split on commas and trimmed; a list is taken as is', () => {
  assert.deepEqual(convertField('comma-list', 'a, b ,c'), ['a', 'b', 'c']);
  assert.deepEqual(convertField('comma-list', ['a,b', ' c']), ['a,b', 'c']);
  assert.deepEqual(convertField('comma-list', ''), []);
  assert.deepEqual(convertField('comma-list', 5), ['5']);
  assert.match(failure('comma-list', { a: 1 }), /source data must be an array or slice, got map$/);
});

test('zero values are those of Vault (empty string, 0, false, empty map, empty list)', () => {
  assert.deepEqual(
    (['string', 'int', 'bool', 'duration', 'map', 'list', 'comma-list'] as const).map(zeroValue),
    ['', 0, false, 0, {}, [], []],
  );
});

test("goValue prints like Go's %v", () => {
  assert.equal(goValue(['b', 'a']), '[b a]');
  assert.equal(goValue({ z: [1, 2], a: null }), 'map[a:<nil> z:[1 2]]');
  assert.equal(goValue(null), '<nil>');
});
