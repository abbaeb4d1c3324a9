import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isGatehouseError } from './errors.js';
import { parseNodeConfig } from './node-config.js';
import { parseSize, parseTime } from './proxy-cache-config.js';

const FILE = '/etc/gatehouse/config.yaml';

function refuses(text: string, message: RegExp): void {
  assert.throws(() => parseNodeConfig(text, FILE), (e: unknown) => {
    assert.ok(isGatehouseError(e, 'GH_ERR_CONFIG_INVALID'));
    assert.match((e as Error).message, message);
    return true;
  });
}

describe('proxy_cache in config.yaml', () => {
  it("defaults to APISIX's two zones, the disk one under data_dir, and 10 s", () => {
    const c = parseNodeConfig('', FILE);
    assert.deepEqual(c.proxy_cache, {
      cache_ttl: 10,
      zones: [
        { name: 'disk_cache_one', memory_size: 50 * 1024 ** 2, disk_size: 1024 ** 3, disk_path: '/etc/gatehouse/data/proxy_cache/disk_cache_one', cache_levels: '1:2' },
        { name: 'memory_cache', memory_size: 50 * 1024 ** 2, cache_levels: '1:2' },
      ],
    });
  });

  it('takes APISIX-shaped zones, which replace the built-in ones', () => {
    const c = parseNodeConfig([
      'proxy_cache:',
      '  cache_ttl: 2m',
      '  zones:',
      '    - {name: mem, memory_size: 1m}',
      '    - {name: disk, memory_size: 512k, disk_size: 2G, disk_path: cache/d, cache_levels: "1:1:2"}',
    ].join('\n'), FILE);
    assert.equal(c.proxy_cache.cache_ttl, 120);
    assert.deepEqual(c.proxy_cache.zones, [
      { name: 'mem', memory_size: 1024 ** 2, cache_levels: '1:2' },
      { name: 'disk', memory_size: 512 * 1024, disk_size: 2 * 1024 ** 3, disk_path: '/etc/gatehouse/cache/d', cache_levels: '1:1:2' },
    ]);
  });

  it('refuses bad zones with the key named', () => {
    refuses('proxy_cache: {zones: [{name: a, memory_size: lots}]}', /proxy_cache\.zones\[0\]\.memory_size: must be a size/);
    refuses('proxy_cache: {zones: [{name: a, disk_size: 1g}]}', /proxy_cache\.zones\[0\]\.disk_size: needs disk_path/);
    refuses('proxy_cache: {zones: [{name: a}, {name: a}]}', /proxy_cache\.zones\[1\]\.name: zone "a" is declared twice/);
    refuses('proxy_cache: {zones: [{name: a, cache_levels: "3:3"}]}', /proxy_cache\.zones\[0\]\.cache_levels: must be nginx levels/);
    refuses('proxy_cache: {zones: [{name: a, memory_size: 1k}]}', /proxy_cache\.zones\[0\]\.memory_size: must be at least 64k/);
    refuses('proxy_cache: {cache_ttl: soon}', /proxy_cache\.cache_ttl: must be a time/);
    refuses('proxy_cache: {zones: [{memory_size: 1m}]}', /proxy_cache\.zones\[0\]\.name: is required/);
    refuses('proxy_cache: {zone: []}', /unknown key "proxy_cache\.zone"/);
  });

  it('reads nginx sizes and times', () => {
    assert.equal(parseSize('10k'), 10240);
    assert.equal(parseSize('3G'), 3 * 1024 ** 3);
    assert.equal(parseSize(77), 77);
    assert.equal(parseTime('90'), 90);
    assert.equal(parseTime('1h'), 3600);
  });
});
