import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSink, type Sink } from './devices.js';

/**
 * The file sink on a real file: what it must notice between two writes (a deleted or replaced file, an executable
 * one, a rotation by rename), since it checks the open file, not the path, on every write.
 */

const dir = mkdtempSync(join(tmpdir(), 'coffer-audit-devices-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function fileSink(): { sink: Sink; path: string } {
  const path = join(dir, `audit-${n++}.log`);
  const sink = openSink({ path: 'file/', type: 'file', description: '', local: false, salt: 'salt', options: { file_path: path } }, {});
  return { sink, path };
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

describe('the audit file sink', () => {
  it('refuses the very next write once the file is replaced by a directory, and writes again once it is gone', async () => {
    const { sink, path } = fileSink();
    await sink.write('one\n');
    rmSync(path);
    mkdirSync(path);
    await assert.rejects(sink.write('refused\n'));
    await assert.rejects(sink.write('refused again\n'));
    rmdirSync(path);
    await sink.write('two\n');
    assert.deepEqual(lines(path), ['two']);
    await sink.close();
  });

  it('writes to a new file at the path once the open one is deleted, or another file is renamed over it', async () => {
    const { sink, path } = fileSink();
    await sink.write('one\n');
    rmSync(path);
    await sink.write('two\n');
    assert.deepEqual(lines(path), ['two']);
    writeFileSync(`${path}.new`, 'other\n', { mode: 0o600 });
    renameSync(`${path}.new`, path);
    await sink.write('three\n');
    assert.deepEqual(lines(path), ['other', 'three']);
    await sink.close();
  });

  it('never writes a file found executable, and writes again once it is not', async () => {
    const { sink, path } = fileSink();
    await sink.write('one\n');
    chmodSync(path, 0o700);
    await assert.rejects(sink.write('refused\n'), /executable/);
    chmodSync(path, 0o600);
    await sink.write('two\n');
    assert.deepEqual(lines(path), ['one', 'two']);
    await sink.close();
  });

  it('does not follow a symlink planted where the file was', async () => {
    const { sink, path } = fileSink();
    await sink.write('one\n');
    rmSync(path);
    const elsewhere = join(dir, 'elsewhere');
    writeFileSync(elsewhere, '');
    symlinkSync(elsewhere, path);
    await assert.rejects(sink.write('refused\n'));
    assert.equal(readFileSync(elsewhere, 'utf8'), '');
    rmSync(path);
    await sink.close();
  });

  it('follows a rotation by rename: the renamed file keeps the entries until the path is looked at again', async () => {
    const { sink, path } = fileSink();
    await sink.write('before\n');
    renameSync(path, `${path}.1`);
    // Every entry is in one of the two files, none lost, and within the path check's interval the device reopens
    // the path (creating the new file).
    let i = 0;
    while (!existsSync(path)) {
      assert.ok(i < 100, 'the device never reopened the path');
      await sink.write(`rotated ${i++}\n`);
      await sleep(50);
    }
    await sink.write('after\n');
    const old = lines(`${path}.1`);
    const now = lines(path);
    assert.equal(old[0], 'before');
    assert.deepEqual([...old, ...now], ['before', ...Array.from({ length: i }, (_, k) => `rotated ${k}`), 'after']);
    assert.equal(now.at(-1), 'after');
    await sink.close();
  });

  it('answers every entry of a batch only once the batch was written, and refuses them all when it was not', async () => {
    const { sink, path } = fileSink();
    await Promise.all(['a\n', 'b\n', 'c\n'].map((l) => sink.write(l)));
    assert.deepEqual(lines(path), ['a', 'b', 'c']);
    rmSync(path);
    mkdirSync(path);
    const results = await Promise.allSettled(['d\n', 'e\n'].map((l) => sink.write(l)));
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    rmdirSync(path);
    await sink.close();
  });
});
